"""Ledger writes. Sync, keyword-only, called inside one transaction (the task or the event handler opens
it); each locks the account row first (``select_for_update``), so payments, reversals and accruals on
one account are serialized, and writes its events to the outbox in the same transaction."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import structlog
from common.bus.catalogue import LoanDisbursed
from common.finance import LoanTerms
from common.money import AmountError, parse_amount
from django.db import transaction

from ledger import accounts, engine, events, journal, replay
from ledger.errors import AccountNotOpen, PaymentRejected
from ledger.models import Account, Allocation, Installment

log = structlog.get_logger(__name__)


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def account_lock(*, loan_id) -> Account:
    # get(), not filter().first(): no ORDER BY to compile on every payment. The terms and the schedule
    # (JSON, the largest columns) are read only when ``accounts.rules_of`` has not cached them yet.
    try:
        return Account.objects.select_for_update().defer("terms", "schedule").get(loan_id=loan_id)
    except Account.DoesNotExist:
        raise AccountNotOpen(f"no ledger account for loan {loan_id} yet") from None


def account_open(*, event: LoanDisbursed) -> Account:
    """Open the loan's account and post the disbursement and origination fee; a replay is a no-op."""
    existing = Account.objects.filter(loan_id=event.loan_id).first()
    if existing is not None:
        return existing
    terms = LoanTerms.from_dict(event.terms)
    principal = Decimal(event.principal)
    fee = Decimal(event.origination_fee)
    disbursed = date.fromisoformat(event.disbursement_date)
    account = Account(
        loan_id=event.loan_id, borrower_id=event.borrower_id, product_id=event.product_id, currency=event.currency,
        terms=event.terms, schedule=event.schedule, annual_rate=terms.annual_rate,
        interest_method=terms.interest_method, day_count=terms.day_count,
        rounding_mode=terms.rounding_mode, places=terms.rounding_places, disbursement_date=disbursed,
        opening_principal=principal, origination_fee=fee, scheduled_fees=terms.fees,
        late_fee=Decimal(event.late_fee), grace_days=event.grace_days, nsf_fee=Decimal(event.nsf_fee or "0"),
        default_after_days=event.default_after_days, non_accrual_after_days=event.non_accrual_after_days,
        arrears_tolerance=Decimal(event.arrears_tolerance or "0"), allocation_order=list(event.allocation_order),
        principal=principal, fees=fee, interest_since=disbursed, last_accrual_date=disbursed,
        oldest_unpaid_due=min((date.fromisoformat(i["due_date"]) for i in event.schedule["installments"]), default=None),
    )
    with transaction.atomic():  # a savepoint: a concurrent duplicate fails here, the consumer retries
        account.save()
    Installment.objects.bulk_create(accounts.installment_rows(account, event.schedule))
    journal.post(kind="disbursement", effective_date=disbursed, impact=journal.disbursement(principal),
                 account=account, reference=str(event.loan_id))
    journal.post(kind="origination_fee", effective_date=disbursed, impact=journal.fee_assessed(fee),
                 account=account, reference=str(event.loan_id))
    events.emit_opened(account)
    events.emit_balance_changed(account, "opening")
    events.emit_transaction(account, kind="disbursement", effective_date=disbursed, amount=principal,
                            breakdown={"principal": principal}, reference=str(event.loan_id))
    if fee:
        events.emit_transaction(account, kind="origination_fee", effective_date=disbursed, amount=fee,
                                breakdown={"fees": fee}, reference=str(event.loan_id))
    return account


def account_accrue(*, loan_id, through: date | str, source: str = "accrual_task") -> Account:
    """Bring one account up to ``through``: daily accrual, late fees, non-accrual, days past due. ``source``: what
    asked for it, the reference of its journal entries (the task passes ``accrual_task:<task id>``)."""
    through = _as_date(through)
    account = account_lock(loan_id=loan_id)
    if through <= account.last_accrual_date:
        return account
    state = accounts.state_of(account)
    out = engine.Movements()
    engine.advance(state, accounts.rules_of(account), through, out)
    accounts.store(account, state)
    accounts.persist_movements(account, out, source=source)
    accounts.emit_delinquency_changes(account, out)
    events.emit_balance_changed(account, "accrual")
    return account


def _allocation_of(payment_id) -> Allocation | None:
    # payment_id is unique: no ORDER BY (first() compiles one; this runs for every payment)
    return next(iter(Allocation.objects.filter(payment_id=payment_id)[:1]), None)


def payment_allocate(*, payment_id: str, loan_id: str, amount: str, currency: str,
                     value_date: date | str) -> Allocation:
    """Apply a settled payment as of its value date; a second delivery returns the first allocation."""
    value_date = _as_date(value_date)
    account = account_lock(loan_id=loan_id)
    existing = _allocation_of(payment_id)  # a redelivery, or a duplicate that held the lock first
    if existing is not None:
        return existing
    if currency != account.currency:
        raise PaymentRejected(f"payment currency {currency} differs from the loan's {account.currency}")
    try:
        paid = parse_amount(str(amount), currency)
    except AmountError as exc:
        raise PaymentRejected(str(exc)) from exc
    if value_date < account.disbursement_date:
        raise PaymentRejected("value date is before the disbursement date")
    if value_date < account.last_accrual_date and account.status in (engine.OPEN, engine.PAID_OFF):
        return replay.rebuild_with_payment(account, payment_id=payment_id, amount=paid, value_date=value_date)
    value_date = max(value_date, account.last_accrual_date)
    rules = accounts.rules_of(account)
    state = accounts.state_of(account)
    out = engine.Movements()
    engine.advance(state, rules, value_date, out)
    stage = engine.stage_of(state.status)
    result = engine.pay(state, rules, payment_id=str(payment_id), amount=paid, value_date=value_date, out=out)
    accounts.store(account, state)
    accounts.persist_movements(account, out, source=f"payment:{payment_id}")
    allocation = replay.save_allocation(account, payment_id=payment_id, amount=paid, currency=currency,
                                        value_date=value_date, result=result,
                                        interest_suspended=out.interest_suspended_paid[str(payment_id)],
                                        stage=stage)
    replay.post_payment(account, allocation)
    events.emit_allocated(account, allocation)
    accounts.emit_delinquency_changes(account, out)
    events.emit_balance_changed(account, "payment")
    return allocation


# (the allocation's stage, the account's status now) for which a returned payment is undone in place
IN_PLACE_REVERSALS = {(engine.CHARGED_OFF, engine.CHARGED_OFF), (engine.WRITTEN_OFF, engine.WRITTEN_OFF),
                      (engine.CHARGED_OFF, engine.WRITTEN_OFF)}


def payment_reverse(*, payment_id: str, reason: str, on: date | str | None = None) -> Allocation:
    """Reverse a returned payment exactly, re-accrue what it changed, assess the NSF fee if any."""
    from ledger.errors import PaymentNotAllocated

    allocation = _allocation_of(payment_id)
    if allocation is None:
        raise PaymentNotAllocated(f"payment {payment_id} is not allocated yet")
    account = Account.objects.select_for_update().get(pk=allocation.account_id)
    allocation.refresh_from_db()
    if allocation.reversed:
        return allocation
    if (allocation.stage, account.status) in IN_PLACE_REVERSALS:
        # a collection or recovery that bounced (a collection possibly after the write-off): nothing accrues or
        # ages in these stages, so it is undone in place
        return replay.reverse_in_place(account, allocation=allocation, reason=reason)
    # an open-stage payment (possibly returned after the charge-off or the write-off): the account is rebuilt
    # without it from its opening, across the charge-off and the write-off (``replay``)
    return replay.rebuild_without_payment(account, allocation=allocation, reason=reason,
                                          on=_as_date(on) if on else account.last_accrual_date)


def account_charge_off(*, loan_id, as_of: date | str) -> Account:
    as_of = _as_date(as_of)
    account = account_lock(loan_id=loan_id)
    if account.status != engine.OPEN:
        if account.status == engine.PAID_OFF:     # the payoff came first; the loans service follows the books
            log.warning("ledger.charge_off_refused_paid_off", loan_id=str(loan_id))
        return account
    state = accounts.state_of(account)
    out = engine.Movements()
    engine.advance(state, accounts.rules_of(account), as_of, out)
    principal = engine.charge_off(state)
    account.charged_off_on = state.last_accrual_date     # where a replay across the charge-off charges it off
    accounts.store(account, state, extra_fields=("charged_off_on",))
    accounts.persist_movements(account, out, source="charge_off")
    journal.post(kind="charge_off", effective_date=as_of, impact=journal.charge_off(principal),
                 account=account, reference=str(loan_id))
    events.emit_charge_off(account, principal=principal, effective_date=as_of)
    events.emit_balance_changed(account, "charge_off")
    return account


def account_write_off(*, loan_id, as_of: date | str) -> Account:
    as_of = _as_date(as_of)
    account = account_lock(loan_id=loan_id)
    if account.status == engine.OPEN:
        account = account_charge_off(loan_id=loan_id, as_of=as_of)
    if account.status != engine.CHARGED_OFF:
        if account.status == engine.PAID_OFF:
            log.warning("ledger.write_off_refused_paid_off", loan_id=str(loan_id))
        return account
    state = accounts.state_of(account)
    written = engine.write_off(state)          # off the books, still recoverable (a recovery, ``engine._recover``)
    journal.post(kind="write_off", effective_date=as_of, account=account, reference=str(loan_id),
                 impact=journal.write_off(**written))
    accounts.store(account, state)
    events.emit_write_off(account, written=written, effective_date=as_of)
    events.emit_balance_changed(account, "write_off")
    return account
