"""Writes of the payments service: intake, and the guarded lifecycle transitions.

Every state change is one sync ``*_tx`` function (row lock, write, outbox) awaited once through
``common.db.run_atomic``; the async functions around them do the I/O (loans service, processor).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import structlog
from common.bus.catalogue import PaymentFailed, PaymentReceived, PaymentReturned, PaymentSettled
from common.bus.outbox import command_add, outbox_add
from common.commands import ALLOCATE_PAYMENT, REVERSE_PAYMENT
from common.db import run_atomic
from common.errors import Conflict, Unprocessable, UpstreamUnavailable
from common.idempotency import (
    Answer,
    Claim,
    Replay,
    idempotency_complete_tx,
    idempotency_owned_tx,
    idempotency_replay,
    idempotent,
    idempotent_write,
    request_fingerprint,
)
from common.logging import get_correlation_id
from common.money import AmountError, format_amount, minor_units, parse_amount
from common.tenancy import require_tenant
from common.tenancy.calendar import business_date
from common.tokens import Principal
from django.utils import timezone

from payments.errors import MESSAGES, PAYABLE_LOAN_STATUSES, PaymentError
from payments.models import TRANSITIONS, IdempotencyRecord, Payment, PaymentStatus
from payments.providers.loans import LoanNotFound, loan_fetch
from payments.schemas import payment_body

log = structlog.get_logger(__name__)

# Commands are keyed on the payment: writing one twice is refused by the outbox's unique message id.
_COMMAND_NAMESPACE = uuid.UUID("6f1d2c55-8a8e-4c59-9d0b-3c1f5d7e2a11")


def _command_id(kind: str, payment_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(_COMMAND_NAMESPACE, f"{kind}:{payment_id}")


# The request that records a payment asks the processor itself right after commit; the sweep
# (``manage.py charge_pending``) picks the payment up only if that did not work.
CHARGE_GRACE = timedelta(seconds=10)


@dataclass(frozen=True)
class Transition:
    payment: Payment
    applied: bool        # False: the payment was already there (a replay) or may not move (ignored)


# --- intake ------------------------------------------------------------------------------------

def payment_validate_amount(*, amount: str, currency: str) -> Decimal:
    """The amount as a Decimal, or a 422 naming the field (unknown currency, sign, zero, places)."""
    try:
        minor_units(currency)
    except AmountError as exc:
        raise Unprocessable(str(exc), code=PaymentError.UNKNOWN_CURRENCY,
                            errors=[{"loc": ["body", "currency"], "msg": str(exc)}]) from None
    try:
        return parse_amount(amount, currency)
    except AmountError as exc:
        raise Unprocessable(str(exc), code=PaymentError.INVALID_AMOUNT,
                            errors=[{"loc": ["body", "amount"], "msg": str(exc)}]) from None


async def payment_check_loan(*, loan_id: uuid.UUID, currency: str, value_date: date,
                             caller: Principal | None = None) -> None:
    """The loan exists for this tenant (and ``caller``, unless an admin, holds a grant on it: asked with the caller's
    own token), takes payments, and is in the payment's currency (REST)."""
    try:
        loan = await loan_fetch(tenant_id=require_tenant(), loan_id=loan_id, on_behalf_of=caller)
    except LoanNotFound:
        raise Unprocessable(MESSAGES[PaymentError.LOAN_NOT_FOUND], code=PaymentError.LOAN_NOT_FOUND,
                            errors=[{"loc": ["body", "loan_id"], "msg": MESSAGES[PaymentError.LOAN_NOT_FOUND]}]) from None
    if loan.status not in PAYABLE_LOAN_STATUSES:
        raise Unprocessable(f"{MESSAGES[PaymentError.LOAN_NOT_PAYABLE]} (the loan is {loan.status})",
                            code=PaymentError.LOAN_NOT_PAYABLE,
                            errors=[{"loc": ["body", "loan_id"], "msg": f"loan is {loan.status}"}])
    if loan.currency != currency:
        raise Unprocessable(f"{MESSAGES[PaymentError.CURRENCY_MISMATCH]} ({loan.currency})",
                            code=PaymentError.CURRENCY_MISMATCH,
                            errors=[{"loc": ["body", "currency"], "msg": f"the loan is in {loan.currency}"}])
    # the tenant's business date (its time zone), with a day of slack for a client's clock ahead of it
    if value_date > business_date(require_tenant()) + timedelta(days=1):
        raise Unprocessable("a payment cannot be value-dated in the future",
                            errors=[{"loc": ["body", "value_date"], "msg": "is after today"}])
    if loan.disbursement_date and value_date < loan.disbursement_date:
        raise Unprocessable(MESSAGES[PaymentError.VALUE_DATE_BEFORE_DISBURSEMENT],
                            code=PaymentError.VALUE_DATE_BEFORE_DISBURSEMENT,
                            errors=[{"loc": ["body", "value_date"],
                                     "msg": f"the loan was disbursed on {loan.disbursement_date.isoformat()}"}])


def _payment_create_tx(*, record: IdempotencyRecord, loan_id: uuid.UUID, amount: Decimal, currency: str, method: str,
                       value_date: date, created_by: str) -> tuple[int, str, Payment]:
    payment = Payment.objects.create(loan_id=loan_id, amount=amount, currency=currency, method=method,
                                     value_date=value_date, created_by=created_by,
                                     correlation_id=(get_correlation_id() or "")[:64],
                                     next_charge_at=timezone.now() + CHARGE_GRACE)
    outbox_add(PaymentReceived(**_payload_fields(payment)))
    body = json.dumps(payment_body(payment))
    idempotency_complete_tx(record, status=201, body=body, payment=payment)
    return 201, body, payment


@dataclass(frozen=True)
class Intake:
    status: int
    body: str                      # the JSON response, byte for byte what a replay sends again
    payment: Payment | None        # the payment as committed when this request created it; None: a replay


async def payment_intake(*, idempotency_key: str | None, request_hash: str, loan_id: uuid.UUID, amount: str,
                         currency: str, method: str, value_date: date, caller: Principal) -> Intake:
    """Record a payment (``pending``) exactly once per idempotency key.

    Bad input is refused before anything is stored. The loan is checked (loans service) first; then the
    key is claimed and the payment written in one transaction (``idempotent_write``), so a failure stores
    nothing and leaves the key free. A repeat of a completed request gets its stored response — also when
    the loan check would now fail (the payment itself may have paid the loan off) — and another body
    under the key is a 409. Without a key the payment still gets a record of its own under an
    unguessable one (every payment is linked to the row that stored its first response)."""
    value = payment_validate_amount(amount=amount, currency=currency)
    try:
        await payment_check_loan(loan_id=loan_id, currency=currency, value_date=value_date, caller=caller)
    except (Unprocessable, UpstreamUnavailable):
        replay = idempotency_key and await idempotency_replay(IdempotencyRecord, key=idempotency_key,
                                                              request_hash=request_hash)
        if replay:
            return Intake(replay.status, replay.body, None)
        raise
    idempotency_key = idempotency_key or f"auto:{uuid.uuid4()}"
    outcome = await idempotent_write(IdempotencyRecord, key=idempotency_key, request_hash=request_hash,
                                     write_tx=_payment_create_tx, loan_id=loan_id, amount=value, currency=currency,
                                     method=method, value_date=value_date, created_by=caller.subject)
    if isinstance(outcome, Replay):
        return Intake(outcome.status, outcome.body, None)
    payment = outcome.result
    log.info("payment.received", payment_id=str(payment.id), loan_id=str(loan_id))
    return Intake(201, outcome.body, payment)


# --- lifecycle ---------------------------------------------------------------------------------

def _payload_fields(payment: Payment) -> dict:
    return {"payment_id": str(payment.id), "loan_id": str(payment.loan_id),
            "amount": format_amount(payment.amount, payment.currency), "currency": payment.currency,
            "method": payment.method, "value_date": payment.value_date.isoformat()}


def _lock(payment_id: uuid.UUID, locked: Payment | None = None) -> Payment:
    """The payment, row-locked for this transaction (``locked``: the caller already holds the lock)."""
    if locked is not None:
        if locked.pk != payment_id:
            raise ValueError(f"the locked payment is {locked.pk}, not {payment_id}")
        return locked
    return Payment.objects.select_for_update().get(pk=payment_id)


def _move(payment: Payment, status: str, **fields) -> None:
    # The row is locked by this transaction (``_lock``), so its version cannot move under us: the
    # increment is exact without an F() expression and a re-read; ``updated_at`` is set by save().
    payment.status = status
    for name, value in fields.items():
        setattr(payment, name, value)
    payment.version += 1
    payment.save()


def payment_settle_tx(*, payment_id: uuid.UUID, processor_reference: str = "",
                      locked: Payment | None = None) -> Transition:
    """``pending → settled``: the settled event and the worker's allocate command, in this transaction."""
    payment = _lock(payment_id, locked)
    if payment.status != PaymentStatus.PENDING:
        return Transition(payment, applied=False)
    now = timezone.now()
    _move(payment, PaymentStatus.SETTLED, settled_at=now,
          processor_reference=payment.processor_reference or processor_reference)
    outbox_add(PaymentSettled(**_payload_fields(payment), settled_at=now.isoformat(),
                              processor_reference=payment.processor_reference or None))
    command_add(ALLOCATE_PAYMENT, task_id=_command_id("allocate", payment.id),
                args=[str(payment.id), str(payment.loan_id), format_amount(payment.amount, payment.currency),
                      payment.currency, payment.value_date.isoformat()])
    return Transition(payment, applied=True)


def payment_fail_tx(*, payment_id: uuid.UUID, reason: str, processor_reference: str = "",
                    locked: Payment | None = None) -> Transition:
    """``pending → failed`` (the processor declined the charge)."""
    payment = _lock(payment_id, locked)
    if payment.status != PaymentStatus.PENDING:
        return Transition(payment, applied=False)
    _move(payment, PaymentStatus.FAILED, failed_at=timezone.now(), failure_reason=reason[:255],
          processor_reference=payment.processor_reference or processor_reference)
    outbox_add(PaymentFailed(**_payload_fields(payment), reason=reason[:255]))
    return Transition(payment, applied=True)


def payment_return_tx(*, payment_id: uuid.UUID, reason: str, strict: bool = True,
                      locked: Payment | None = None) -> Transition:
    """``settled | allocated → returned``: the returned event and the worker's reversal command.

    Returning a returned payment again is a no-op. With ``strict``, returning a payment that never
    settled is a 409; otherwise (a processor callback) it is ignored."""
    payment = _lock(payment_id, locked)
    if payment.status == PaymentStatus.RETURNED:
        return Transition(payment, applied=False)
    if PaymentStatus.RETURNED not in TRANSITIONS[payment.status]:
        if strict:
            raise Conflict(f"a {payment.status} payment cannot be returned; only settled or allocated ones can",
                           code=PaymentError.ILLEGAL_TRANSITION)
        return Transition(payment, applied=False)
    _move(payment, PaymentStatus.RETURNED, returned_at=timezone.now(), return_reason=reason[:255])
    outbox_add(PaymentReturned(**_payload_fields(payment), reason=reason[:255]))
    command_add(REVERSE_PAYMENT, task_id=_command_id("reverse", payment.id), args=[str(payment.id), reason[:255]])
    return Transition(payment, applied=True)


def _payment_return_answer_tx(*, claim: Claim | None, payment_id: uuid.UUID, reason: str) -> tuple[int, str]:
    record = idempotency_owned_tx(claim)
    payment = payment_return_tx(payment_id=payment_id, reason=reason).payment
    body = json.dumps(payment_body(payment))
    idempotency_complete_tx(record, status=200, body=body)
    return 200, body


async def payment_return(*, payment_id: uuid.UUID, reason: str, idempotency_key: str | None = None) -> Answer:
    """Return a payment (``payment_return_tx``) once per ``Idempotency-Key``: a retry gets the first answer,
    byte for byte, even after the ledger's reversal moved the payment on; another reason under the key is a 409."""
    return await idempotent(
        IdempotencyRecord, key=idempotency_key,
        request_hash=request_fingerprint(method="POST", path=f"/api/v1/payments/{payment_id}/return",
                                         body={"reason": reason}),
        perform=lambda claim: run_atomic(_payment_return_answer_tx, claim=claim, payment_id=payment_id,
                                         reason=reason))


def payment_allocate_tx(*, payment_id: uuid.UUID, fees: Decimal, interest: Decimal, principal: Decimal,
                        overpayment: Decimal, trace: list, sequence: int) -> Transition:
    """Record the ledger's breakdown; ``settled → allocated``. A returned payment keeps its status
    (the reversal command is on its way) but still records what had been allocated. An allocated payment
    takes a newer breakdown (the ledger re-split it: a back-dated payment or a return before it), never an
    older or repeated one: by the ledger account's ``sequence``."""
    payment = _lock(payment_id)
    fields = {"allocated_fees": fees, "allocated_interest": interest, "allocated_principal": principal,
              "allocated_overpayment": overpayment, "allocation_trace": trace, "allocation_sequence": sequence}
    if payment.has_allocation:
        if sequence <= (payment.allocation_sequence or 0):      # rows allocated before 0003 have none
            return Transition(payment, applied=False)
        _move(payment, payment.status, **fields)
        log.info("payment.reallocated", payment_id=str(payment_id), sequence=sequence)
        return Transition(payment, applied=True)
    fields["allocated_at"] = timezone.now()
    if payment.status == PaymentStatus.SETTLED:
        _move(payment, PaymentStatus.ALLOCATED, **fields)
        return Transition(payment, applied=True)
    if payment.status == PaymentStatus.RETURNED:
        _move(payment, PaymentStatus.RETURNED, **fields)
        return Transition(payment, applied=True)
    log.warning("payment.allocation_ignored", payment_id=str(payment_id), status=payment.status)
    return Transition(payment, applied=False)


def payment_mark_reversed_tx(*, payment_id: uuid.UUID) -> Transition:
    """The ledger reversed the allocation: the payment is ``returned`` (if it was not already)."""
    payment = _lock(payment_id)
    if payment.status in (PaymentStatus.SETTLED, PaymentStatus.ALLOCATED):
        reason = payment.return_reason or "reversed in the ledger"
        _move(payment, PaymentStatus.RETURNED, returned_at=timezone.now(), return_reason=reason)
        outbox_add(PaymentReturned(**_payload_fields(payment), reason=reason))
        return Transition(payment, applied=True)
    return Transition(payment, applied=False)
