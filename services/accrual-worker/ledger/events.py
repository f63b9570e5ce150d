"""The integration events the ledger emits, always through the outbox inside the state change's transaction."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from common.bus.catalogue import (
    AccountOpened,
    BalanceChanged,
    Balances,
    DelinquencyChanged,
    PaymentAllocated,
    TransactionPosted,
)
from common.bus.outbox import outbox_add
from common.finance._util import fmt_money

from ledger import journal
from ledger.engine import PAID_OFF
from ledger.models import Account


def money(account: Account, value: Decimal) -> str:
    return fmt_money(Decimal(value), account.places)


def balances(account: Account) -> Balances:
    """What the borrower owes: interest includes what is suspended in non-accrual (not income, still owed)."""
    interest = account.interest + account.interest_suspended
    total = account.principal + interest + account.fees
    return Balances(principal=money(account, account.principal), interest=money(account, interest),
                    fees=money(account, account.fees), total=money(account, total))


def balances_dict(account: Account) -> dict[str, str]:
    return balances(account).model_dump(mode="json")


def emit_opened(account: Account) -> None:
    outbox_add(AccountOpened(loan_id=str(account.loan_id), sequence=account.sequence, balances=balances(account)))


def emit_balance_changed(account: Account, cause: str) -> None:
    outbox_add(BalanceChanged(
        loan_id=str(account.loan_id), sequence=account.sequence, balances=balances(account),
        days_past_due=account.days_past_due, delinquency_bucket=account.bucket,
        last_accrual_date=account.last_accrual_date.isoformat(), accrual_since=account.interest_since.isoformat(),
        interest_accrued_since=money(account, account.interest_posted_since), non_accrual=account.non_accrual,
        cause=cause, paid_off=account.status == PAID_OFF, oldest_unpaid_due=_iso(account.oldest_unpaid_due),
    ))


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def emit_allocated(account: Account, allocation, *, reallocated: bool = False) -> None:
    """A payment's split (an ``Allocation``); ``reallocated`` when a replay re-split it (the newer sequence wins)."""
    places = account.places
    outbox_add(PaymentAllocated(
        loan_id=str(account.loan_id), sequence=account.sequence, payment_id=str(allocation.payment_id),
        fees=fmt_money(allocation.fees, places), interest=fmt_money(allocation.interest, places),
        principal=fmt_money(allocation.principal, places), overpayment=fmt_money(allocation.overpayment, places),
        value_date=allocation.value_date.isoformat(), trace=allocation.trace, reallocated=reallocated,
    ))


def emit_transaction(account: Account, *, kind: str, effective_date: date, amount: Decimal,
                     breakdown: dict[str, Decimal] | None = None, reference: str | None = None) -> None:
    """Amounts travel unsigned (money strings are never negative); ``kind`` says the direction."""
    outbox_add(TransactionPosted(
        loan_id=str(account.loan_id), sequence=account.sequence, transaction_id=str(uuid.uuid4()), kind=kind,
        effective_date=effective_date.isoformat(), amount=money(account, abs(amount)),
        breakdown={k: money(account, abs(v)) for k, v in (breakdown or {}).items()}, reference=reference,
    ))


def emit_charge_off(account: Account, *, principal: Decimal, effective_date: date, reference: str | None = None) -> None:
    """The principal a charge-off reserved (or, from a replay, the difference in it)."""
    emit_transaction(account, kind="charge_off", effective_date=effective_date, amount=principal,
                     breakdown={"principal": principal}, reference=reference)


def emit_write_off(account: Account, *, written: dict[str, Decimal], effective_date: date,
                   reference: str | None = None) -> None:
    """What a write-off took off the books (``engine.write_off``'s amounts, or a replay's difference in them), in the
    borrower's view: all interest owed, suspended (never income) included."""
    interest = written["interest"] + written["interest_suspended"]
    emit_transaction(account, kind="write_off", effective_date=effective_date,
                     amount=written["principal"] + interest + written["fees"], reference=reference,
                     breakdown={"principal": written["principal"], "interest": interest, "fees": written["fees"]})


def emit_delinquency(account: Account, *, as_of: date, previous_bucket: str, bucket: str, dpd: int) -> None:
    outbox_add(DelinquencyChanged(
        loan_id=str(account.loan_id), sequence=account.sequence, as_of=as_of.isoformat(), days_past_due=dpd,
        previous_bucket=previous_bucket, bucket=bucket, non_accrual=account.non_accrual,
    ))


def account_summary(account: Account, accrued: Decimal, posted: Decimal = Decimal(0)) -> dict[str, Any]:
    """One account in an ``accrual_run.progressed`` event: ``accrued`` on the run's day; ``posted``, all the run
    accrued for it (catch-up days included), is its accrual movement for the loan's transaction list, of kind
    ``posted_kind`` (0 for an account the run advanced through the engine: it sent its own ``transaction_posted``)."""
    return {
        "loan_id": str(account.loan_id), "sequence": account.sequence, "balances": balances_dict(account),
        "last_accrual_date": account.last_accrual_date.isoformat(), "accrued": money(account, accrued),
        "posted": money(account, posted), "posted_kind": journal.accrual_kind(account.non_accrual),
        "days_past_due": account.days_past_due, "delinquency_bucket": account.bucket,
        "accrual_since": account.interest_since.isoformat(),
        "interest_accrued_since": money(account, account.interest_posted_since),
        "non_accrual": account.non_accrual, "status": account.status,
        "oldest_unpaid_due": _iso(account.oldest_unpaid_due),
    }


def outbox_bulk(payloads: list) -> None:
    """Many events in one INSERT (a portfolio chunk), same rows as ``outbox_add`` writes, one NOTIFY."""
    if not payloads:
        return
    from common.bus.envelope import Envelope
    from common.bus.models import OutboxMessage
    from common.bus.outbox import NOTIFY_CHANNEL, _require_atomic
    from common.logging import get_correlation_id
    from common.tenancy import require_tenant
    from django.db import connection

    _require_atomic()
    tenant = require_tenant()
    correlation = get_correlation_id() or uuid.uuid4().hex
    rows = []
    for payload in payloads:
        envelope = Envelope(event_type=payload.EVENT_TYPE, tenant_id=tenant, correlation_id=correlation,
                            payload=payload.model_dump(mode="json"))
        rows.append(OutboxMessage(message_id=envelope.event_id, kind=OutboxMessage.KIND_EVENT,
                                  name=envelope.event_type, tenant_id=tenant, correlation_id=correlation,
                                  body=envelope.model_dump(mode="json")))
    OutboxMessage.objects.bulk_create(rows)
    with connection.cursor() as cursor:
        cursor.execute(f"NOTIFY {NOTIFY_CHANNEL}")
