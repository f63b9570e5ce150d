"""The account state machine, pure Python (no Django): bring an account up to a date (daily accrual,
late fees, non-accrual, days past due) and apply a payment. Every amount comes from ``common.finance``.

The same functions serve the incremental path (one payment on time, the per-loan accrual task) and the
replay path (a back-dated payment or a reversal rebuilds the account from its opening), so a back-dated
payment ends exactly where the on-time path would have. Rules of the day:

- ``advance(to)`` accrues the days (last_accrual_date, to], each row cumulative-rounded on the interest
  clock: a declining-balance loan on its principal owed (``common.finance.iter_daily_accruals``); a
  flat-interest loan on its schedule's clock (``common.finance.FlatInterest``), which repaying principal
  does not restart and which earns nothing once no principal is owed. On the day the oldest unpaid
  installment reaches ``non_accrual_after_days`` past due the account enters non-accrual (DOMAIN.md: cash
  basis): the accrued, uncollected interest is reversed out of income into ``interest_suspended``, and the
  days after accrue on the same clock into ``interest_suspended`` only (``AccrualRow.suspended``). The
  borrower owes it all the same: non-accrual changes what is recognised as income, never what is owed.
  Each late fee is assessed on due date + grace days + 1.
- A payment applies on its value date after that day's accrual and fees; interest owed is
  ``interest + interest_suspended`` (one of them is always zero) and what it pays of the suspended part is
  income when received; principal paid restarts a declining-balance clock on the value date. A
  non-accrual account that becomes current is cured: what is still suspended moves back to ``interest``.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from common.finance import FlatInterest, allocate, delinquency_bucket, iter_daily_accruals
from common.finance.allocation import Allocation as FinanceAllocation

OPEN, PAID_OFF, CHARGED_OFF, WRITTEN_OFF = "open", "paid_off", "charged_off", "written_off"


def stage_of(status: str) -> str:
    """The stage of an account's life a payment is applied in (``Allocation.stage``): a collection after the charge-off,
    a recovery after the write-off, or open (paid off included)."""
    return status if status in (CHARGED_OFF, WRITTEN_OFF) else OPEN
ZERO = Decimal(0)


@dataclass(frozen=True)
class Rules:
    annual_rate: Decimal
    day_count: str
    places: int
    mode: str
    due_dates: tuple[date, ...]
    numbers: tuple[int, ...]
    cumulative_totals: tuple[Decimal, ...]   # running total of installment totals, oldest first
    scheduled_fees: Decimal
    late_fee: Decimal
    grace_days: int
    nsf_fee: Decimal
    non_accrual_after_days: int
    order: tuple[str, ...]
    flat: FlatInterest | None = None          # a flat-interest loan's clock; None: declining balance
    arrears_tolerance: Decimal = ZERO          # an installment short by no more than this is not past due


@dataclass
class State:
    principal: Decimal
    interest: Decimal
    fees: Decimal
    suspense: Decimal
    interest_since: date
    interest_posted_since: Decimal
    last_accrual_date: date
    paid_toward_schedule: Decimal
    scheduled_fees_paid: Decimal
    status: str
    non_accrual: bool
    days_past_due: int
    bucket: str
    interest_suspended: Decimal = ZERO
    written_off_principal: Decimal = ZERO      # recoverable after a write-off (memo)
    written_off_interest: Decimal = ZERO
    written_off_fees: Decimal = ZERO
    late_fees_assessed: set[int] = field(default_factory=set)

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest + self.interest_suspended + self.fees


@dataclass(frozen=True)
class AccrualRow:
    accrual_date: date
    amount: Decimal
    cumulative: Decimal
    since: date
    balance: Decimal
    suspended: bool = False       # accrued in non-accrual: owed, not income


@dataclass(frozen=True)
class FeeRow:
    kind: str                     # late_fee | nsf_fee
    assessed_on: date
    amount: Decimal
    installment_number: int | None = None
    payment_id: str | None = None


@dataclass(frozen=True)
class NonAccrualRow:
    kind: str                     # start | cure
    effective_date: date
    interest: Decimal             # start: moved out of income into suspense; cure: moved back


@dataclass(frozen=True)
class DelinquencyChange:
    as_of: date
    previous_bucket: str
    bucket: str
    days_past_due: int


@dataclass
class Movements:
    accruals: list[AccrualRow] = field(default_factory=list)
    fees: list[FeeRow] = field(default_factory=list)
    non_accrual: list[NonAccrualRow] = field(default_factory=list)
    delinquency: list[DelinquencyChange] = field(default_factory=list)
    allocations: dict[str, FinanceAllocation] = field(default_factory=dict)
    # per payment, the part of its allocated interest that paid suspended interest (income when received)
    interest_suspended_paid: dict[str, Decimal] = field(default_factory=dict)
    # a replay across the charge-off and the write-off: the principal reserved at the charge-off, and what the
    # write-off took off the books (``write_off``'s amounts); the journal of a rebuild posts their difference
    charged_off_principal: Decimal | None = None
    written_off: dict[str, Decimal] | None = None


def first_unpaid(rules: Rules, state: State) -> int | None:
    """Index of the oldest installment not fully paid, or None when every one is.

    Payments pay installments oldest first, by the running total of what they paid toward the schedule.
    The last installment is the remainder: it stays unpaid while any principal or interest is owed. A
    borrower who paid late paid more interest than the schedule shows, so reaching the schedule's total
    does not repay the loan; at maturity the whole balance is due, and it ages from the maturity date.
    ``arrears_tolerance`` (Fineract's in-arrears tolerance): an installment short by no more than it counts as
    paid, and so does a balance of no more than it left after maturity — a few cents do not bring a late fee."""
    tolerance = rules.arrears_tolerance
    index = bisect.bisect_right(rules.cumulative_totals, state.paid_toward_schedule + tolerance)
    if index < len(rules.due_dates):
        return index
    if rules.due_dates and state.principal + state.interest + state.interest_suspended > tolerance:
        return len(rules.due_dates) - 1
    return None


def oldest_unpaid_due(rules: Rules, state: State) -> date | None:
    """Due date of the oldest installment not fully paid (``first_unpaid``)."""
    index = first_unpaid(rules, state)
    return rules.due_dates[index] if index is not None else None


def days_past_due(rules: Rules, state: State, as_of: date) -> int:
    due = oldest_unpaid_due(rules, state)
    return max(0, (as_of - due).days) if due is not None else 0


def _set_delinquency(state: State, rules: Rules, as_of: date, out: Movements) -> None:
    if state.status in (CHARGED_OFF, WRITTEN_OFF):
        return          # frozen as charged off: a collection or a recovery does not make the loan "current"
    dpd = days_past_due(rules, state, as_of) if state.status == OPEN else 0
    bucket = delinquency_bucket(dpd)
    if bucket != state.bucket:
        out.delinquency.append(DelinquencyChange(as_of, state.bucket, bucket, dpd))
    state.days_past_due, state.bucket = dpd, bucket


def _accrue_through(state: State, rules: Rules, through: date, out: Movements) -> None:
    if through <= state.last_accrual_date:
        return
    if rules.flat is not None:
        _accrue_flat_days(state, rules.flat, through, out)
    else:
        _accrue_declining_days(state, rules, through, out)
    state.last_accrual_date = through


def _accrue_declining_days(state: State, rules: Rules, through: date, out: Movements) -> None:
    for accrual in iter_daily_accruals(
        balance=state.principal, annual_rate=rules.annual_rate, day_count=rules.day_count,
        since=state.interest_since, through=through, places=rules.places, mode=rules.mode,
        accrued_through=state.last_accrual_date, already_posted=state.interest_posted_since,
    ):
        out.accruals.append(AccrualRow(accrual.through, accrual.amount, accrual.cumulative, accrual.since,
                                       state.principal, state.non_accrual))
        _add_interest(state, accrual.amount)
        state.interest_posted_since = accrual.cumulative


def _add_interest(state: State, amount: Decimal) -> None:
    if state.non_accrual:
        state.interest_suspended += amount
    else:
        state.interest += amount


def _accrue_flat_days(state: State, flat: FlatInterest, through: date, out: Movements) -> None:
    """A flat loan's days: ``interest_posted_since`` is its schedule clock's cumulative on the last day accrued."""
    day = state.last_accrual_date + timedelta(days=1)
    while day <= through:
        cumulative = flat.cumulative(day)
        # nothing is earned while no principal is lent (all of it repaid, the rest owed interest or fees): the
        # clock moves on without posting, so it never catches up later
        amount = cumulative - state.interest_posted_since if state.principal > 0 else ZERO
        out.accruals.append(AccrualRow(day, amount, cumulative, state.interest_since, state.principal,
                                       state.non_accrual))
        _add_interest(state, amount)
        state.interest_posted_since = cumulative
        day += timedelta(days=1)


def _restart_clock(state: State, rules: Rules, on: date) -> None:
    """Principal repaid on ``on`` (accrued through it): a declining-balance clock starts again there on the
    new balance; a flat clock keeps its schedule."""
    if rules.flat is None:
        state.interest_since, state.interest_posted_since = on, ZERO


def non_accrual_date(state: State, rules: Rules) -> date | None:
    due = oldest_unpaid_due(rules, state)
    return due + timedelta(days=rules.non_accrual_after_days) if due is not None else None


def advance(state: State, rules: Rules, to: date, out: Movements) -> None:
    """Bring the account up to and including day ``to``."""
    start = state.last_accrual_date
    if to <= start:
        return
    if state.status == OPEN:
        if not state.non_accrual:
            stop = non_accrual_date(state, rules)
            if stop is not None and stop <= to:
                stop = max(stop, start)
                _accrue_through(state, rules, stop, out)
                out.non_accrual.append(NonAccrualRow("start", stop, state.interest))
                state.interest_suspended += state.interest
                state.interest, state.non_accrual = ZERO, True
        _accrue_through(state, rules, to, out)
        _assess_late_fees(state, rules, start, to, out)
    state.last_accrual_date = to
    _set_delinquency(state, rules, to, out)


def _assess_late_fees(state: State, rules: Rules, start: date, to: date, out: Movements) -> None:
    if rules.late_fee <= 0:
        return
    first = first_unpaid(rules, state)
    for index in range(len(rules.due_dates) if first is None else first, len(rules.due_dates)):
        chargeable = rules.due_dates[index] + timedelta(days=rules.grace_days + 1)
        if chargeable > to:
            break
        number = rules.numbers[index]
        if number in state.late_fees_assessed:
            continue
        assessed_on = max(chargeable, start + timedelta(days=1))
        out.fees.append(FeeRow("late_fee", assessed_on, rules.late_fee, installment_number=number))
        state.fees += rules.late_fee
        state.late_fees_assessed.add(number)


def pay(state: State, rules: Rules, *, payment_id: str, amount: Decimal, value_date: date,
        out: Movements) -> FinanceAllocation:
    """Apply a payment on its value date (the account must already be brought up to that day)."""
    if value_date != state.last_accrual_date:
        raise ValueError("advance the account to the value date before paying")
    if state.status == WRITTEN_OFF:
        return _recover(state, rules, payment_id=payment_id, amount=amount, out=out)
    # open, paid off, or charged off (a collection: the borrower still owes every balance; the ledger releases
    # the allowance for the principal it collects)
    owed = {"fees": state.fees, "interest": state.interest + state.interest_suspended, "principal": state.principal}
    result = allocate(amount=amount, owed=owed, order=rules.order, places=rules.places)
    recognised = min(result.interest, state.interest)      # accrued (income) interest first, then suspended
    suspended = result.interest - recognised
    state.fees -= result.fees
    state.interest -= recognised
    state.interest_suspended -= suspended
    state.principal -= result.principal
    state.suspense += result.overpayment
    if state.status != CHARGED_OFF:
        # (a charged-off account neither accrues nor ages: its interest clock and its progress through the schedule
        # stay as they were at the charge-off, which also makes a returned collection undo exactly)
        if result.principal > 0:
            _restart_clock(state, rules, value_date)
        scheduled_fee_part = min(result.fees, max(ZERO, rules.scheduled_fees - state.scheduled_fees_paid))
        state.scheduled_fees_paid += scheduled_fee_part
        state.paid_toward_schedule += result.principal + result.interest + scheduled_fee_part
    if state.status == OPEN and state.total == 0:
        state.status = PAID_OFF
    _set_delinquency(state, rules, value_date, out)
    if state.non_accrual and state.days_past_due == 0 and state.status in (OPEN, PAID_OFF):
        # cured (or paid off: nothing is suspended then): accrual (income) resumes on the same clock; what is
        # still suspended is recognised again
        out.non_accrual.append(NonAccrualRow("cure", value_date, state.interest_suspended))
        state.interest += state.interest_suspended
        state.interest_suspended, state.non_accrual = ZERO, False
    out.allocations[payment_id] = result
    out.interest_suspended_paid[payment_id] = suspended
    return result


def charge_off(state: State, out: Movements | None = None) -> Decimal:
    """The account is charged off (brought up to the charge-off day first): it stops accruing and ageing and the
    principal it owes is reserved (``journal.charge_off``); returns that principal."""
    state.status = CHARGED_OFF
    if out is not None:
        out.charged_off_principal = state.principal
    return state.principal


def write_off(state: State, out: Movements | None = None) -> dict[str, Decimal]:
    """Take every balance off the books into the recoverable memo (``_recover`` pays it later); returns what was
    written off, as ``journal.write_off`` takes it. Also for balances a returned collection put back on a loan
    already written off."""
    written = {"principal": state.principal, "interest": state.interest,
               "interest_suspended": state.interest_suspended, "fees": state.fees}
    state.written_off_principal += state.principal
    state.written_off_interest += state.interest + state.interest_suspended
    state.written_off_fees += state.fees
    state.principal = state.interest = state.interest_suspended = state.fees = ZERO
    state.status = WRITTEN_OFF
    if out is not None:
        out.written_off = written
    return written


def _recover(state: State, rules: Rules, *, payment_id: str, amount: Decimal, out: Movements) -> FinanceAllocation:
    """Cash received after a write-off pays what was written off, in the allocation order (a recovery: income);
    only what exceeds it is an overpayment (borrower suspense)."""
    owed = {"fees": state.written_off_fees, "interest": state.written_off_interest,
            "principal": state.written_off_principal}
    result = allocate(amount=amount, owed=owed, order=rules.order, places=rules.places)
    state.written_off_fees -= result.fees
    state.written_off_interest -= result.interest
    state.written_off_principal -= result.principal
    state.suspense += result.overpayment
    out.allocations[payment_id] = result
    out.interest_suspended_paid[payment_id] = ZERO
    return result


def assess_nsf(state: State, rules: Rules, *, payment_id: str, on: date, out: Movements) -> Decimal:
    if rules.nsf_fee <= 0 or state.status not in (OPEN, PAID_OFF):
        return ZERO
    out.fees.append(FeeRow("nsf_fee", on, rules.nsf_fee, payment_id=payment_id))
    state.fees += rules.nsf_fee
    if state.status == PAID_OFF:
        state.status = OPEN     # with no principal owed: no clock catches the paid-off days up (both accrue 0)
    return rules.nsf_fee
