"""Asking the processor to charge a pending payment, and the sweep that retries until it accepted.

A payment is committed ``pending`` before the processor is asked, so a processor outage never loses
it: the failed attempt is recorded with a backoff (``next_charge_at``) and ``charge_due_payments``
(run in a loop by ``manage.py charge_pending``) asks again. The processor dedupes charges on the
payment id, so asking twice after a timeout never charges twice.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import structlog
from common.db import run_atomic, run_sync
from common.logging import bind_context
from common.money import format_amount
from common.tenancy import tenant_context
from django.db.models import F
from django.utils import timezone

from payments.models import Payment, PaymentStatus
from payments.providers.processor import (
    ChargeRequest,
    PaymentProcessor,
    ProcessorUnavailable,
    callback_url,
    get_processor,
)

log = structlog.get_logger(__name__)

MAX_BACKOFF = timedelta(minutes=5)
LEASE = timedelta(seconds=30)     # a swept payment is not picked up again while it is being asked


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=2 ** min(attempts, 10)), MAX_BACKOFF)


def _record_charge(*, payment_id: uuid.UUID, reference: str) -> None:
    """The processor accepted the charge: one UPDATE (atomic on its own). A reference already recorded
    (a settled callback that overtook this request) is kept: then the second, rarer UPDATE runs."""
    done = {"charge_attempts": F("charge_attempts") + 1, "next_charge_at": None, "last_charge_error": "",
            "updated_at": timezone.now()}
    if not Payment.objects.filter(pk=payment_id, processor_reference="").update(processor_reference=reference,
                                                                                 **done):
        Payment.objects.filter(pk=payment_id).update(**done)


def _record_charge_error_tx(*, payment_id: uuid.UUID, error: str) -> None:
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    if payment.status != PaymentStatus.PENDING or payment.processor_reference:
        return
    payment.charge_attempts += 1
    payment.next_charge_at = timezone.now() + backoff(payment.charge_attempts)
    payment.last_charge_error = error[:1000]
    payment.save(update_fields=["charge_attempts", "next_charge_at", "last_charge_error", "updated_at"])


async def payment_request_charge(*, payment_id: uuid.UUID, processor: PaymentProcessor | None = None,
                                 payment: Payment | None = None) -> bool:
    """Ask the processor to charge the payment; True when it accepted. Never raises for an outage.
    ``payment``: the row as the caller just committed it (the intake), which saves reading it again."""
    if payment is None:
        # run_sync, not aget: the async ORM would keep its pooled connection until the request ends, across
        # the processor call and the writes below (which need a connection of their own) — under load every
        # pooled connection ended up held by a request waiting for another one.
        payment = await run_sync(Payment.objects.get, pk=payment_id)
    if payment.status != PaymentStatus.PENDING or payment.processor_reference:
        return bool(payment.processor_reference)
    request = ChargeRequest(payment_id=str(payment.id), tenant_id=payment.tenant_id,
                            amount=format_amount(payment.amount, payment.currency), currency=payment.currency,
                            method=payment.method, callback_url=callback_url())
    try:
        charge = await (processor or get_processor()).charge(request)
    except ProcessorUnavailable as exc:
        log.warning("payment.charge_failed", payment_id=str(payment_id), error=str(exc))
        await run_atomic(_record_charge_error_tx, payment_id=payment_id, error=str(exc))
        return False
    await run_sync(_record_charge, payment_id=payment_id, reference=charge.reference)
    log.info("payment.charge_requested", payment_id=str(payment_id), reference=charge.reference)
    return True


def _lease_due_tx(*, limit: int) -> list[tuple[uuid.UUID, str]]:
    # Across tenants on purpose (a maintenance sweep); each payment is then handled in its tenant.
    now = timezone.now()
    due = list(Payment.all_tenants.select_for_update(skip_locked=True)
               .filter(status=PaymentStatus.PENDING, processor_reference="", next_charge_at__lte=now)
               .order_by("next_charge_at")[:limit])
    for payment in due:
        Payment.all_tenants.filter(pk=payment.pk).update(next_charge_at=now + LEASE)
    return [(p.id, p.tenant_id, p.correlation_id) for p in due]


async def charge_due_payments(*, limit: int = 100, processor: PaymentProcessor | None = None) -> int:
    """Ask the processor again for every pending payment whose charge is due; returns how many it accepted."""
    accepted = 0
    for payment_id, tenant_id, correlation_id in await run_atomic(_lease_due_tx, limit=limit):
        with tenant_context(tenant_id), bind_context(correlation_id=correlation_id or None):
            accepted += await payment_request_charge(payment_id=payment_id, processor=processor)
    return accepted
