"""Inspecting and replaying a service's dead-letter queue (``manage.py dead_letters``)."""

from __future__ import annotations

import json
from typing import Any

from common.bus.amqp import close_quietly, connect
from common.bus.config import BusSettings, bus_settings
from common.bus.handlers import event_types_for, retired_for
from common.bus.topology import command_dlq, declare_command_queue, declare_service
from common.bus.wire import (
    ATTEMPT_HEADER,
    CONSUMER_HEADER,
    ERROR_HEADER,
    FAILED_AT_HEADER,
    REASON_HEADER,
    REPLAYED_HEADER,
    cleared_failure_headers,
    republished,
)
from common.tasks import TENANT_HEADER


def _describe(properties, body: bytes) -> dict[str, Any]:
    headers = properties.headers or {}
    try:
        envelope = json.loads(body)
        event_type = envelope.get("event_type") if isinstance(envelope, dict) else None
    except ValueError:
        envelope, event_type = None, None
    return {
        "event_id": properties.message_id,
        "event_type": event_type or properties.type,
        "tenant_id": headers.get(TENANT_HEADER),
        "correlation_id": properties.correlation_id,
        # the broker's own delivery limit dead-letters without our headers; x-first-death-reason says so
        "reason": headers.get(REASON_HEADER) or headers.get("x-first-death-reason"),
        "attempts": headers.get(ATTEMPT_HEADER),
        "error": headers.get(ERROR_HEADER),
        "consumer": headers.get(CONSUMER_HEADER),
        "failed_at": headers.get(FAILED_AT_HEADER),
        "replayed": headers.get(REPLAYED_HEADER, 0),
        "body": envelope if envelope is not None else body[:500].decode("utf-8", "replace"),
    }


def _command_death_reason(headers: dict) -> str | None:
    """Why the command queue dead-lettered it (``rejected``, or ``delivery_limit``): the newest death (RabbitMQ lists
    them newest first) not in a queue of Celery's native delayed delivery, where every countdown retry waited and
    "expired" on its way back."""
    for death in headers.get("x-death") or []:
        queue = death.get("queue")
        queue = queue.decode() if isinstance(queue, bytes) else str(queue or "")
        if not queue.startswith("celery_delayed_"):
            reason = death.get("reason")
            return reason.decode() if isinstance(reason, bytes) else reason
    return headers.get("x-first-death-reason")


def _describe_command(properties, body: bytes) -> dict[str, Any]:
    """A dead-lettered Celery command: task name and id from its headers, args/kwargs from its body."""
    headers = properties.headers or {}
    try:
        args, kwargs, _ = json.loads(body)
    except (ValueError, TypeError):               # not Celery's [args, kwargs, embed]
        args, kwargs = body[:500].decode("utf-8", "replace"), None
    return {
        "task_id": headers.get("id") or properties.correlation_id,
        "task": headers.get("task"),
        "tenant_id": headers.get(TENANT_HEADER),
        "reason": _command_death_reason(headers),
        "retries": headers.get("retries"),
        "replayed": headers.get(REPLAYED_HEADER, 0),
        "args": args,
        "kwargs": kwargs,
    }


def _command_queue(queue: str) -> str:
    from common.commands import COMMAND_QUEUES

    if queue not in COMMAND_QUEUES:           # a typo must not declare new queues
        raise ValueError(f"{queue!r} is not a command queue (one of {', '.join(COMMAND_QUEUES)})")
    return queue


def _list(connection, dlq: str, limit: int, describe) -> list[dict[str, Any]]:
    """Up to ``limit`` dead letters of ``dlq``, oldest first. They stay there (fetched unacked, then the channel
    is closed, which returns them)."""
    channel = connection.channel()
    found = []
    while len(found) < limit:
        method, properties, body = channel.basic_get(dlq, auto_ack=False)
        if method is None:
            break
        found.append(describe(properties, body))
    channel.close()
    return found


def _replay(connection, dlq: str, main: str, limit: int | None, describe, **headers) -> list[dict[str, Any]]:
    """Move up to ``limit`` dead letters (default: all there are now) back to ``main``. Each copy is confirmed
    before the dead letter is acked, so a crash in between duplicates a message (consumers and commands are
    idempotent) and never loses one."""
    channel = connection.channel()
    # Only what is there now: a replayed message that fails at once must not make this loop.
    waiting = channel.queue_declare(dlq, passive=True).method.message_count
    budget = waiting if limit is None else min(limit, waiting)
    publisher = connection.channel()
    publisher.confirm_delivery()
    replayed = []
    for _ in range(budget):
        method, properties, body = channel.basic_get(dlq, auto_ack=False)
        if method is None:
            break
        times = int((properties.headers or {}).get(REPLAYED_HEADER, 0)) + 1
        publisher.basic_publish(exchange="", routing_key=main, body=body, mandatory=True,
                                properties=republished(properties, **headers, **{REPLAYED_HEADER: times}))
        channel.basic_ack(method.delivery_tag)
        replayed.append(describe(properties, body))
    return replayed


def list_dead_letters(service: str, *, limit: int = 100, settings: BusSettings | None = None
                      ) -> list[dict[str, Any]]:
    """Up to ``limit`` dead letters of ``<service>.events.dlq``, oldest first; they stay there."""
    settings = settings or bus_settings()
    conn = connect(f"dead-letters-{service}", settings)
    try:
        queues = declare_service(conn.channel(), service, event_types_for(service), settings,
                                 retired=retired_for(service))
        return _list(conn, queues.dlq, limit, _describe)
    finally:
        close_quietly(conn)


def replay_dead_letters(service: str, *, limit: int | None = None, settings: BusSettings | None = None
                        ) -> list[dict[str, Any]]:
    """Move up to ``limit`` dead letters (default: all there are now) back to the service's main
    queue with a fresh attempt count (the inbox absorbs a duplicate)."""
    settings = settings or bus_settings()
    conn = connect(f"dead-letters-{service}", settings)
    try:
        queues = declare_service(conn.channel(), service, event_types_for(service), settings,
                                 retired=retired_for(service))
        return _replay(conn, queues.dlq, queues.main, limit, _describe, **cleared_failure_headers())
    finally:
        close_quietly(conn)


def list_command_dead_letters(queue: str, *, limit: int = 100, settings: BusSettings | None = None
                              ) -> list[dict[str, Any]]:
    """Up to ``limit`` Celery commands dead-lettered from ``queue`` (``<queue>.dlq``), oldest first."""
    settings = settings or bus_settings()
    conn = connect(f"dead-letters-{queue}", settings)
    try:
        declare_command_queue(conn.channel(), _command_queue(queue))
        return _list(conn, command_dlq(queue), limit, _describe_command)
    finally:
        close_quietly(conn)


def replay_command_dead_letters(queue: str, *, limit: int | None = None, settings: BusSettings | None = None
                                ) -> list[dict[str, Any]]:
    """Send up to ``limit`` dead-lettered commands back to ``queue`` (once the cause is mended: a command that
    still cannot apply is rejected to the DLQ again). The ledger's commands are idempotent per payment/day."""
    settings = settings or bus_settings()
    conn = connect(f"dead-letters-{queue}", settings)
    try:
        declare_command_queue(conn.channel(), _command_queue(queue))
        # a fresh retry budget, as a replayed event gets a fresh attempt count (Celery keeps it in ``retries``)
        return _replay(conn, command_dlq(queue), queue, limit, _describe_command, retries=0)
    finally:
        close_quietly(conn)
