"""Processor callbacks: a verified, signed callback moves the payment; a replay changes nothing.

Body (JSON, signed as in ``payments.providers.signing``)::

    {"event_id", "type": "charge.settled" | "charge.failed" | "charge.returned",
     "charge_id", "payment_id", "tenant_id", "reason"?}
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import structlog
from common.db import run_atomic
from common.errors import BadRequest, Unauthorized
from common.logging import bind_context
from common.tenancy import tenant_context
from django.conf import settings
from django.db import IntegrityError, transaction

from payments.errors import MESSAGES, PaymentError
from payments.models import Payment, ProcessorCallback
from payments.providers.signing import SignatureError, verify
from payments.services import payment_fail_tx, payment_return_tx, payment_settle_tx

log = structlog.get_logger(__name__)

EVENT_TYPES = ("charge.settled", "charge.failed", "charge.returned")


@dataclass(frozen=True)
class Callback:
    event_id: str
    type: str
    charge_id: str
    payment_id: uuid.UUID
    tenant_id: str
    reason: str


@dataclass(frozen=True)
class CallbackResult:
    duplicate: bool
    outcome: str     # applied | ignored | unknown_payment | duplicate


def parse_callback(body: bytes, *, timestamp: str | None, signature: str | None) -> Callback:
    """Verify the signature first (401), then read the body (400)."""
    try:
        verify(body, timestamp=timestamp, signature=signature, secret=settings.LENDSIMPLE_PROCESSOR_WEBHOOK_SECRET)
    except SignatureError as exc:
        log.warning("webhook.rejected", reason=str(exc))
        raise Unauthorized(f"{MESSAGES[PaymentError.BAD_SIGNATURE]}: {exc}", code=PaymentError.BAD_SIGNATURE) from None
    try:
        data = json.loads(body)
        callback = Callback(event_id=str(data["event_id"])[:64], type=str(data["type"]),
                            charge_id=str(data.get("charge_id") or "")[:64],
                            payment_id=uuid.UUID(str(data["payment_id"])), tenant_id=str(data["tenant_id"])[:64],
                            reason=str(data.get("reason") or "")[:255])
    except (ValueError, KeyError, TypeError) as exc:
        raise BadRequest(f"malformed processor callback: {exc}") from None
    if any("\x00" in value for value in (callback.event_id, callback.charge_id, callback.tenant_id, callback.reason)):
        raise BadRequest("malformed processor callback: NUL character in a field")
    if callback.type not in EVENT_TYPES:
        raise BadRequest(f"unknown callback type {callback.type!r}")
    return callback


def _apply(callback: Callback, payment: Payment) -> bool:
    if callback.type == "charge.settled":
        return payment_settle_tx(payment_id=payment.id, processor_reference=callback.charge_id,
                                 locked=payment).applied
    if callback.type == "charge.failed":
        return payment_fail_tx(payment_id=payment.id, reason=callback.reason or "declined by the processor",
                               processor_reference=callback.charge_id, locked=payment).applied
    return payment_return_tx(payment_id=payment.id, reason=callback.reason or "returned by the processor",
                             strict=False, locked=payment).applied


def processor_callback_tx(callback: Callback) -> CallbackResult:
    """Record the callback's event id, then apply it, in one transaction: the unique event id (a
    concurrent replay waits on it, then fails) is what makes a callback take effect once."""
    try:
        with transaction.atomic():     # savepoint: a duplicate leaves the outer transaction usable
            seen = ProcessorCallback.objects.create(event_id=callback.event_id, event_type=callback.type,
                                                    payment_id=callback.payment_id, tenant_id=callback.tenant_id,
                                                    outcome="received")
    except IntegrityError:
        return CallbackResult(duplicate=True, outcome="duplicate")
    outcome = "unknown_payment"
    # One locked read, across tenants, checked against the callback's tenant; the transition reuses it.
    payment = next(iter(Payment.all_tenants.select_for_update()
                        .filter(pk=callback.payment_id, tenant_id=callback.tenant_id)[:1]), None)
    if payment is not None:
        # the payment's own correlation id, not the callback request's: the settled event and the allocate command
        # (and so the ledger's allocation) carry the id the payment was recorded under
        with tenant_context(callback.tenant_id), bind_context(correlation_id=payment.correlation_id or None):
            if payment.processor_reference and callback.charge_id and payment.processor_reference != callback.charge_id:
                outcome = "ignored"
                log.warning("webhook.reference_mismatch", payment_id=str(payment.id), charge_id=callback.charge_id)
            else:
                outcome = "applied" if _apply(callback, payment) else "ignored"
    seen.outcome = outcome
    seen.save(update_fields=["outcome"])
    return CallbackResult(duplicate=False, outcome=outcome)


async def processor_callback_receive(callback: Callback) -> CallbackResult:
    result = await run_atomic(processor_callback_tx, callback)
    log.info("webhook.applied", event_id=callback.event_id, type=callback.type, outcome=result.outcome)
    return result
