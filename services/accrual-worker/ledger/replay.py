"""Back-dated payments and reversals: rebuild the account from its opening with the engine (every live
payment and NSF fee in value-date order, then up to where the account was), and reconcile the subledger
with the result. Rows that no longer hold are marked reversed (never deleted), new rows are inserted,
and the journal gets the exact difference: the payment or reversal as its own entry, the rest
(re-accrual, late fees that no longer apply, re-allocated later payments) as one ``reprocess`` entry.
By construction the end state equals what the on-time path would have produced."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import structlog
from common.bus.catalogue import PaymentReversed
from common.bus.outbox import outbox_add
from common.finance._util import fmt_money
from common.finance.allocation import Allocation as FinanceAllocation

from ledger import accounts, engine, events, journal
from ledger.errors import AccountClosed
from ledger.models import Accrual, Allocation, Fee, NonAccrual

ZERO = Decimal(0)
log = structlog.get_logger(__name__)


def save_allocation(account, *, payment_id, amount: Decimal, currency: str, value_date: date,
                    result: FinanceAllocation, interest_suspended: Decimal, stage: str = "open") -> Allocation:
    allocation = Allocation(payment_id=payment_id, account=account, amount=amount, currency=currency,
                            value_date=value_date, arrival=account.sequence, fees=result.fees,
                            interest=result.interest, interest_suspended=interest_suspended,
                            principal=result.principal, overpayment=result.overpayment, stage=stage,
                            trace=result.explain()["trace"], tenant_id=account.tenant_id)
    allocation.save()
    return allocation


def payment_impact(row: Allocation) -> journal.Impact:
    """The journal of an allocation, by the stage it was applied in (its reversal is the exact negation)."""
    if row.stage == engine.WRITTEN_OFF:
        return journal.recovery(amount=row.amount, recovered=row.fees + row.interest + row.principal,
                                overpayment=row.overpayment)
    impact = journal.payment(amount=row.amount, fees=row.fees, interest=row.interest, principal=row.principal,
                             overpayment=row.overpayment, interest_suspended=row.interest_suspended)
    if row.stage == engine.CHARGED_OFF:
        return journal.collection_after_charge_off(impact, row.principal)
    return impact


def post_payment(account, allocation: Allocation) -> None:
    journal.post(kind="payment", effective_date=allocation.value_date, impact=payment_impact(allocation),
                 account=account, reference=str(allocation.payment_id))
    events.emit_transaction(account, kind="payment", effective_date=allocation.value_date, amount=allocation.amount,
                            reference=str(allocation.payment_id),
                            breakdown={"fees": allocation.fees, "interest": allocation.interest,
                                       "principal": allocation.principal, "overpayment": allocation.overpayment})


# The stages of an account's life, in order: a replay applies every operation of a stage before the next one begins
# (the charge-off begins the second, the write-off the third). An allocation keeps the stage it was applied in.
STAGES = {engine.OPEN: 0, engine.CHARGED_OFF: 1, engine.WRITTEN_OFF: 2}


@dataclass
class _Op:
    on: date
    rank: int          # the stage's start (charge-off, write-off) first, then payments, then NSF fees on the same day
    arrival: int
    kind: str          # pay | nsf | charge_off | write_off
    payment_id: str
    amount: Decimal = ZERO
    stage: int = 0     # STAGES

    def key(self):
        return (self.stage, self.on, self.rank, self.arrival)


def _replay(account, ops: list[_Op], horizon: date) -> tuple[engine.State, engine.Movements]:
    rules = accounts.rules_of(account)
    state = accounts.opening_state(account)
    out = engine.Movements()
    for op in sorted(ops, key=_Op.key):
        if op.kind == "write_off":          # takes the balances off the books where they stand (no day passes)
            engine.write_off(state, out)
            continue
        engine.advance(state, rules, op.on, out)
        if op.kind == "pay":
            engine.pay(state, rules, payment_id=op.payment_id, amount=op.amount, value_date=op.on, out=out)
        elif op.kind == "charge_off":
            engine.charge_off(state, out)
        else:
            engine.assess_nsf(state, rules, payment_id=op.payment_id, on=op.on, out=out)
    engine.advance(state, rules, horizon, out)
    return state, out


def _live_ops(account) -> tuple[list[_Op], list[Allocation]]:
    allocations = list(Allocation.objects.filter(account=account, reversed=False))
    ops = [_Op(a.value_date, 0, a.arrival, "pay", str(a.payment_id), a.amount, STAGES[a.stage]) for a in allocations]
    for fee in Fee.objects.filter(account=account, kind=Fee.NSF, reversed=False):
        ops.append(_Op(fee.assessed_on, 1, 0, "nsf", str(fee.payment_id)))
    if account.status in (engine.CHARGED_OFF, engine.WRITTEN_OFF):
        if account.charged_off_on is None:
            raise AccountClosed(f"account of loan {account.loan_id} has no charge-off day recorded; cannot replay it")
        if any(a.stage == "open" and a.value_date > account.charged_off_on for a in allocations):
            raise AccountClosed(f"account of loan {account.loan_id} holds cash applied while charged off before "
                                "ledger migration 0008 (parked in suspense); replaying it is an operator's decision")
        ops.append(_Op(account.charged_off_on, -1, 0, "charge_off", "", stage=STAGES[engine.CHARGED_OFF]))
    if account.status == engine.WRITTEN_OFF:
        ops.append(_Op(account.charged_off_on, -1, 0, "write_off", "", stage=STAGES[engine.WRITTEN_OFF]))
    return ops, allocations


def _same_accrual(row: Accrual, new: engine.AccrualRow) -> bool:
    return (row.amount, row.cumulative, row.since, row.balance, row.suspended) == (
        new.amount, new.cumulative, new.since, new.balance, new.suspended)


def _reconcile(account, out: engine.Movements, *, skip_fee_payment: str | None = None) -> journal.Impact:
    """Make the subledger rows equal to ``out``; return the journal impact of the change."""
    impacts: list[journal.Impact] = []
    old = {r.accrual_date: r for r in Accrual.objects.filter(account=account, reversed=False)}
    new = {r.accrual_date: r for r in out.accruals}
    stale = [r for d, r in old.items() if d not in new or not _same_accrual(r, new[d])]
    fresh = [r for d, r in new.items() if d not in old or not _same_accrual(old[d], r)]
    Accrual.objects.filter(id__in=[r.id for r in stale]).update(reversed=True)
    Accrual.objects.bulk_create(accounts.accrual_rows(account, fresh))
    impacts += [journal.accrual(-r.amount, suspended=r.suspended) for r in stale]
    impacts += [journal.accrual(r.amount, suspended=r.suspended) for r in fresh]

    def fee_key(f):
        return (f.kind, f.installment_number, str(f.payment_id) if f.payment_id else None, f.assessed_on, f.amount)

    old_fees = {fee_key(f): f for f in Fee.objects.filter(account=account, reversed=False)}
    new_fees = {fee_key(f): f for f in out.fees if f.payment_id is None or str(f.payment_id) != skip_fee_payment}
    gone = [f for k, f in old_fees.items() if k not in new_fees]
    Fee.objects.filter(id__in=[f.id for f in gone]).update(reversed=True)
    Fee.objects.bulk_create(accounts.fee_rows(account, [f for k, f in new_fees.items() if k not in old_fees]))
    impacts += [journal.fee_assessed(-f.amount) for f in gone]
    impacts += [journal.fee_assessed(f.amount) for k, f in new_fees.items() if k not in old_fees]

    def na_key(n):
        return (n.kind, n.effective_date, n.interest)

    live_na = list(NonAccrual.objects.filter(account=account, reversed=False))
    # a row of the earlier rule never matches a new one (it was posted differently): it is reversed as it was
    # posted and the new row posted in full, so the memo pair always equals the suspended interest
    old_na = {na_key(n): n for n in live_na if not n.legacy}
    old_na.update({("legacy", n.id): n for n in live_na if n.legacy})
    new_na = {na_key(n): n for n in out.non_accrual}
    NonAccrual.objects.filter(id__in=[n.id for k, n in old_na.items() if k not in new_na]).update(reversed=True)
    NonAccrual.objects.bulk_create(accounts.non_accrual_rows(account, [n for k, n in new_na.items() if k not in old_na]))
    impacts += [journal.negate(accounts.non_accrual_impact(n)) for k, n in old_na.items() if k not in new_na]
    impacts += [accounts.non_accrual_impact(n) for k, n in new_na.items() if k not in old_na]
    return journal.combine(impacts)


def _reallocate(account, allocations: list[Allocation], out: engine.Movements) -> tuple[journal.Impact,
                                                                                      list[Allocation]]:
    """Later payments re-applied on the rebuilt account: update their breakdown; return the difference and the
    allocations that changed (``_finish`` announces them)."""
    impacts, changed = [], []
    for allocation in allocations:
        result = out.allocations[str(allocation.payment_id)]
        suspended = out.interest_suspended_paid[str(allocation.payment_id)]
        if (allocation.fees, allocation.interest, allocation.interest_suspended, allocation.principal,
                allocation.overpayment) == (result.fees, result.interest, suspended, result.principal,
                                            result.overpayment):
            continue
        impacts.append(journal.negate(payment_impact(allocation)))
        allocation.fees, allocation.interest = result.fees, result.interest
        allocation.interest_suspended = suspended
        allocation.principal, allocation.overpayment = result.principal, result.overpayment
        allocation.trace = result.explain()["trace"]
        allocation.save(update_fields=["fees", "interest", "interest_suspended", "principal", "overpayment", "trace"])
        impacts.append(payment_impact(allocation))
        changed.append(allocation)
    return journal.combine(impacts), changed


def _legacy_history(account) -> bool:
    """Does the account still hold non-accrual rows of the earlier rule (which forgave the interest)?"""
    return NonAccrual.objects.filter(account=account, legacy=True, reversed=False).exists()


@dataclass
class _Rebuilt:
    out: engine.Movements
    adjustment: journal.Impact          # the subledger's and the later payments' difference, one reprocess entry
    reallocated: list[Allocation]       # later payments the rebuild split differently
    before_bucket: str
    legacy: bool                        # it undid history of the earlier non-accrual rule
    charged_off_delta: Decimal = ZERO   # more (or less) principal charged off than before
    written_off_delta: dict[str, Decimal] | None = None   # what the write-off takes off the books, difference


def _stage_impact(out: engine.Movements) -> journal.Impact:
    """The journal of a replay's charge-off and write-off (what ``account_charge_off`` and ``account_write_off``
    posted for the same history)."""
    impacts = []
    if out.charged_off_principal is not None:
        impacts.append(journal.charge_off(out.charged_off_principal))
    if out.written_off is not None:
        impacts.append(journal.write_off(**out.written_off))
    return journal.combine(impacts)


def _rebuild(account, ops: list[_Op], allocations: list[Allocation], horizon: date, *,
             skip_fee_payment: str | None = None, before_ops: list[_Op] | None = None) -> _Rebuilt:
    """The account replayed from its opening through ``horizon`` with ``ops``: the subledger and the later
    payments reconciled with the result, the account's state stored. ``before_ops``: the history as it was, for an
    account charged off (or written off) since — the new history charges off and writes off other amounts, and
    the difference is posted with the rest. The caller posts what is new, then ``_finish``."""
    before_bucket, legacy = account.bucket, _legacy_history(account)     # before _reconcile reverses those rows
    state, out = _replay(account, ops, horizon)
    reallocation, reallocated = _reallocate(account, allocations, out)
    impacts = [_reconcile(account, out, skip_fee_payment=skip_fee_payment), reallocation]
    charged_off_delta, written_off_delta = ZERO, None
    if before_ops is not None and out.charged_off_principal is not None:
        _, before = _replay(account, before_ops, horizon)
        impacts += [_stage_impact(out), journal.negate(_stage_impact(before))]
        charged_off_delta = out.charged_off_principal - before.charged_off_principal
        if out.written_off is not None:
            written_off_delta = {k: out.written_off[k] - before.written_off[k] for k in out.written_off}
    accounts.store(account, state)
    return _Rebuilt(out, journal.combine(impacts), reallocated, before_bucket, legacy, charged_off_delta,
                    written_off_delta)


def _finish(account, rebuilt: _Rebuilt, effective: date, cause: str) -> None:
    """Post the rebuild's difference and announce it: the interest it changes, the later payments' new
    splits, the delinquency change, the balances."""
    memo = {"cause": cause}
    if rebuilt.legacy:
        # a replay rebuilds under the current rule: the earlier rule's forgiveness is undone with the rest
        memo["restated_legacy_non_accrual"] = True
        log.warning("ledger.legacy_non_accrual_restated", loan_id=str(account.loan_id), cause=cause)
    adjustment = rebuilt.adjustment
    journal.post(kind="reprocess", effective_date=effective, impact=adjustment, account=account, memo=memo,
                 reference=f"reprocess:{cause}")
    # interest charged to the borrower: income plus the memo contra (a move between the two, non-accrual or
    # a payment of suspended interest, changes neither what is charged nor this sum)
    interest_delta = -adjustment.get(journal.II, ZERO) - adjustment.get(journal.SIC, ZERO)
    if interest_delta:
        events.emit_transaction(account, kind="accrual" if interest_delta > 0 else "accrual_reversal",
                                effective_date=effective, amount=interest_delta,
                                breakdown={"interest": interest_delta}, reference=f"reprocess:{cause}")
    for allocation in rebuilt.reallocated:      # the payments service and the loan's list show the latest split
        events.emit_allocated(account, allocation, reallocated=True)
        events.emit_transaction(account, kind="reallocation", effective_date=allocation.value_date,
                                amount=allocation.amount, reference=str(allocation.payment_id),
                                breakdown={"fees": allocation.fees, "interest": allocation.interest,
                                           "principal": allocation.principal, "overpayment": allocation.overpayment})
    if rebuilt.charged_off_delta:       # the history now charges off another principal
        events.emit_charge_off(account, principal=rebuilt.charged_off_delta, effective_date=account.charged_off_on,
                               reference=f"reprocess:{cause}")
    if rebuilt.written_off_delta and any(rebuilt.written_off_delta.values()):
        events.emit_write_off(account, written=rebuilt.written_off_delta, effective_date=effective,
                              reference=f"reprocess:{cause}")
    if rebuilt.before_bucket != account.bucket:
        events.emit_delinquency(account, as_of=account.last_accrual_date, previous_bucket=rebuilt.before_bucket,
                                bucket=account.bucket, dpd=account.days_past_due)
    events.emit_balance_changed(account, cause)


def restate(account, *, cause: str) -> journal.Impact:
    """Rebuild the account under the current rules with nothing new (an upgrade's correction, e.g. history of
    the earlier non-accrual rule): the difference is one ``reprocess`` entry and the balances are reported.
    Returns the difference (empty when the account already was what the rules give)."""
    ops, allocations = _live_ops(account)
    rebuilt = _rebuild(account, ops, allocations, account.last_accrual_date)
    _finish(account, rebuilt, account.last_accrual_date, cause)
    return {gl: amount for gl, amount in rebuilt.adjustment.items() if amount}


def rebuild_with_payment(account, *, payment_id, amount: Decimal, value_date: date) -> Allocation:
    """A payment dated before the account's last accrual day: applied as if it had arrived on time."""
    ops, allocations = _live_ops(account)
    arrival = account.sequence
    ops.append(_Op(value_date, 0, arrival, "pay", str(payment_id), amount))
    rebuilt = _rebuild(account, ops, allocations, account.last_accrual_date)
    allocation = save_allocation(account, payment_id=payment_id, amount=amount, currency=account.currency,
                                 value_date=value_date, result=rebuilt.out.allocations[str(payment_id)],
                                 interest_suspended=rebuilt.out.interest_suspended_paid[str(payment_id)])
    allocation.arrival = arrival
    allocation.save(update_fields=["arrival"])
    post_payment(account, allocation)
    events.emit_allocated(account, allocation)
    _finish(account, rebuilt, value_date, "payment")
    return allocation


def rebuild_without_payment(account, *, allocation: Allocation, reason: str, on: date) -> Allocation:
    """A returned payment: its exact reversal, the account rebuilt without it, then the NSF fee if any.

    A payment applied while the loan was open and returned after the charge-off (or the write-off) is taken out of
    the open history the same way: the rebuilt history charges off (and writes off) what it owes without the
    payment, and the journal gets the difference — more principal reserved, more taken off the books. No NSF fee:
    fees are assessed only while the loan is open."""
    horizon = max(on, account.last_accrual_date)
    pid = str(allocation.payment_id)
    live, allocations = _live_ops(account)
    ops = [op for op in live if not (op.kind == "pay" and op.payment_id == pid)]
    allocations = [a for a in allocations if str(a.payment_id) != pid]
    stage = STAGES[engine.stage_of(account.status)]
    ops.append(_Op(horizon, 1, 0, "nsf", pid, stage=stage))
    # charged off (or written off) since: the history as it was tells what the charge-off and write-off posted
    rebuilt = _rebuild(account, ops, allocations, horizon, skip_fee_payment=pid, before_ops=live if stage else None)
    nsf = [f for f in rebuilt.out.fees if f.kind == Fee.NSF and str(f.payment_id) == pid]
    _post_reversal(account, allocation, reason=reason, on=horizon)
    nsf_amount = ZERO
    for fee in nsf:
        nsf_amount += fee.amount
        Fee.objects.bulk_create(accounts.fee_rows(account, [fee]))
        journal.post(kind="nsf_fee", effective_date=fee.assessed_on, impact=journal.fee_assessed(fee.amount),
                     account=account, reference=pid)
        events.emit_transaction(account, kind="nsf_fee", effective_date=fee.assessed_on, amount=fee.amount,
                                breakdown={"fees": fee.amount}, reference=pid)
    _emit_reversed(account, allocation, nsf_amount)
    _finish(account, rebuilt, allocation.value_date, "reversal")
    return allocation


def _post_reversal(account, allocation: Allocation, *, reason: str, on: date) -> None:
    """Mark the allocation reversed and post its exact negation."""
    pid = str(allocation.payment_id)
    allocation.reversed, allocation.reversed_on, allocation.reversal_reason = True, on, reason[:255]
    allocation.save(update_fields=["reversed", "reversed_on", "reversal_reason"])
    journal.post(kind="reversal", effective_date=allocation.value_date, impact=journal.negate(payment_impact(allocation)),
                 account=account, reference=pid, memo={"reason": reason})
    events.emit_transaction(account, kind="reversal", effective_date=allocation.value_date, amount=-allocation.amount,
                            reference=pid, breakdown={"fees": -allocation.fees, "interest": -allocation.interest,
                                                      "principal": -allocation.principal,
                                                      "overpayment": -allocation.overpayment})


def _emit_reversed(account, allocation: Allocation, nsf_amount: Decimal) -> None:
    places = account.places
    outbox_add(PaymentReversed(
        loan_id=str(account.loan_id), sequence=account.sequence, payment_id=str(allocation.payment_id),
        fees=fmt_money(allocation.fees, places), interest=fmt_money(allocation.interest, places),
        principal=fmt_money(allocation.principal, places), overpayment=fmt_money(allocation.overpayment, places),
        nsf_fee=fmt_money(nsf_amount, places),
    ))


def reverse_in_place(account, *, allocation: Allocation, reason: str) -> Allocation:
    """A collection after charge-off or a recovery after write-off that was returned: nothing accrues or ages in
    these stages and no later step depends on the order of payments, so the payment is undone where it stands —
    its journal negated (the allowance release or the recovery income with it), what it paid owed (or recoverable)
    again. A collection returned after the loan was written off is written off again: what it paid goes back on
    the books and straight off them (income reversed, the provision charged again). No NSF fee: fees are
    assessed only while the loan is open."""
    state = accounts.state_of(account)
    if allocation.stage == engine.WRITTEN_OFF:
        state.written_off_fees += allocation.fees
        state.written_off_interest += allocation.interest
        state.written_off_principal += allocation.principal
    else:
        state.fees += allocation.fees
        state.interest += allocation.interest - allocation.interest_suspended
        state.interest_suspended += allocation.interest_suspended
        state.principal += allocation.principal
    state.suspense -= allocation.overpayment
    # a collection returned after the write-off: what it paid is back on the books, and written off again
    rewritten = engine.write_off(state) if account.status == engine.WRITTEN_OFF and state.total else None
    accounts.store(account, state)
    _post_reversal(account, allocation, reason=reason, on=account.last_accrual_date)
    if rewritten:
        journal.post(kind="write_off", effective_date=account.last_accrual_date, account=account,
                     reference=f"reversal:{allocation.payment_id}", impact=journal.write_off(**rewritten))
    _emit_reversed(account, allocation, ZERO)
    events.emit_balance_changed(account, "reversal")
    return allocation
