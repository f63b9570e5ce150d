"""Writing to the outbox: inside the same transaction as the state change, never outside one."""

from __future__ import annotations

import uuid

from django.db import connection, transaction

from common.bus.catalogue import Payload
from common.bus.context import handling_event_id
from common.bus.envelope import Envelope
from common.commands import LEDGER_QUEUE
from common.logging import get_correlation_id
from common.tenancy import require_tenant

NOTIFY_CHANNEL = "lendsimple_outbox"


class OutboxOutsideTransaction(RuntimeError):
    """outbox_add was called outside an atomic block: the message could part ways with the change."""


def _require_atomic() -> None:
    if not connection.in_atomic_block:
        raise OutboxOutsideTransaction("outbox_add must be called inside the state change's transaction")


def _notified_in_this_transaction() -> None:
    """on_commit marker: this transaction (or savepoint) has sent its NOTIFY."""


def _notify() -> None:
    # Delivered by PostgreSQL only when the transaction commits: the relay wakes up at once
    # instead of waiting for its next sweep, and a rollback wakes nobody. Once per transaction: the
    # marker is an on_commit callback, so it goes away exactly when the NOTIFY does — at commit, at
    # rollback, or with a rolled-back savepoint (whose NOTIFY PostgreSQL discards too).
    if any(func is _notified_in_this_transaction for _sids, func, _robust in connection.run_on_commit):
        return
    with connection.cursor() as cursor:
        cursor.execute(f"NOTIFY {NOTIFY_CHANNEL}")
    transaction.on_commit(_notified_in_this_transaction)


def outbox_add(payload: Payload, *, tenant_id: str | None = None, correlation_id: str | None = None,
               causation_id: str | None = None) -> Envelope:
    """Record an integration event to publish once the surrounding transaction commits.

    Inside an event handler the handled event becomes the ``causation_id`` unless one is given."""
    from common.bus.models import OutboxMessage

    _require_atomic()
    if not payload.EVENT_TYPE:
        raise ValueError(f"{type(payload).__name__} is not a registered event payload")
    envelope = Envelope(event_type=payload.EVENT_TYPE, tenant_id=tenant_id or require_tenant(),
                        correlation_id=correlation_id or get_correlation_id() or uuid.uuid4().hex,
                        causation_id=causation_id or handling_event_id(), payload=payload.model_dump(mode="json"))
    OutboxMessage.objects.create(message_id=envelope.event_id, kind=OutboxMessage.KIND_EVENT,
                                 name=envelope.event_type, tenant_id=envelope.tenant_id,
                                 correlation_id=envelope.correlation_id or "",
                                 body=envelope.model_dump(mode="json"))
    _notify()
    return envelope


def command_add(task_name: str, *, args: list | tuple = (), kwargs: dict | None = None,
                tenant_id: str | None = None, correlation_id: str | None = None,
                task_id: uuid.UUID | None = None, queue: str = LEDGER_QUEUE) -> uuid.UUID:
    """Record a Celery command (sent by name with the tenant in its headers) for after commit."""
    from common.bus.models import OutboxMessage

    _require_atomic()
    task_id = task_id or uuid.uuid4()
    OutboxMessage.objects.create(message_id=task_id, kind=OutboxMessage.KIND_COMMAND, name=task_name,
                                 tenant_id=tenant_id or require_tenant(),
                                 correlation_id=correlation_id or get_correlation_id() or "",
                                 body={"args": list(args), "kwargs": kwargs or {}, "queue": queue})
    _notify()
    return task_id


__all__ = ["outbox_add", "command_add", "OutboxOutsideTransaction", "NOTIFY_CHANNEL", "transaction"]
