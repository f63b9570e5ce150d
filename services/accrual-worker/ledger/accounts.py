"""Between the Account row and the engine: load rules and state, store them back, persist movements
(subledger rows, journal entries, events). Callers hold the account's row lock and a transaction."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from common.finance import FlatInterest, FlatPeriod
from common.finance.schedule import FLAT

from ledger import engine, events, journal
from ledger.models import Accrual, Fee, Installment, NonAccrual

STATE_FIELDS = ("principal", "interest", "interest_suspended", "fees", "suspense", "interest_since", "interest_posted_since",
                "last_accrual_date", "paid_toward_schedule", "scheduled_fees_paid", "status", "non_accrual",
                "days_past_due", "bucket", "written_off_principal", "written_off_interest", "written_off_fees")

STORED_FIELDS = (*STATE_FIELDS, "oldest_unpaid_due", "sequence", "updated_at")

_RULES_CACHE: dict[tuple, engine.Rules] = {}


def rules_of(account) -> engine.Rules:
    key = (account.tenant_id, account.loan_id)
    cached = _RULES_CACHE.get(key)
    if cached is not None:
        return cached
    rows = installment_rows(account, account.schedule)
    flat = None
    if account.interest_method == FLAT:
        flat = FlatInterest(periods=tuple(FlatPeriod(r.period_start, r.due_date, r.interest) for r in rows),
                            places=account.places, mode=account.rounding_mode)
    rules = engine.Rules(
        annual_rate=Decimal(account.annual_rate).normalize(), day_count=account.day_count, places=account.places,
        mode=account.rounding_mode, due_dates=tuple(r.due_date for r in rows),
        numbers=tuple(r.number for r in rows), cumulative_totals=tuple(r.cumulative_total for r in rows),
        scheduled_fees=Decimal(account.scheduled_fees), late_fee=Decimal(account.late_fee),
        grace_days=account.grace_days, nsf_fee=Decimal(account.nsf_fee),
        non_accrual_after_days=account.non_accrual_after_days, order=tuple(account.allocation_order), flat=flat,
        arrears_tolerance=Decimal(account.arrears_tolerance),
    )
    if len(_RULES_CACHE) > 10_000:
        _RULES_CACHE.clear()
    _RULES_CACHE[key] = rules
    return rules


def installment_rows(account, schedule: dict) -> list[Installment]:
    """The schedule as rows, oldest first: the running total (days past due), each period's start and interest
    (flat accrual). Written once at opening; ``rules_of`` reads the engine's rules from the same walk."""
    running, start, rows = Decimal(0), account.disbursement_date, []
    for inst in sorted(schedule["installments"], key=lambda r: (r["due_date"], int(r["number"]))):
        running += Decimal(inst["total"])
        due = date.fromisoformat(inst["due_date"])
        rows.append(Installment(account=account, number=int(inst["number"]), period_start=start, due_date=due,
                                interest=Decimal(inst["interest"]), total=Decimal(inst["total"]),
                                cumulative_total=running))
        start = due
    return rows


def state_of(account, *, late_fees_assessed: set[int] | None = None) -> engine.State:
    if late_fees_assessed is None:
        late_fees_assessed = set(Fee.objects.filter(account=account, kind=Fee.LATE, reversed=False)
                                 .values_list("installment_number", flat=True))
    return engine.State(**{name: getattr(account, name) for name in STATE_FIELDS},
                        late_fees_assessed=late_fees_assessed)


def opening_state(account) -> engine.State:
    return engine.State(
        principal=account.opening_principal, interest=Decimal(0), fees=account.origination_fee,
        suspense=Decimal(0), interest_since=account.disbursement_date, interest_posted_since=Decimal(0),
        last_accrual_date=account.disbursement_date, paid_toward_schedule=Decimal(0),
        scheduled_fees_paid=Decimal(0), status=engine.OPEN, non_accrual=False, days_past_due=0, bucket="current",
    )


def store(account, state: engine.State, *, extra_fields: tuple[str, ...] = ()) -> None:
    """Write the state back and bump the sequence (every change is a new sequence number); ``extra_fields``: other
    columns the caller set on the account."""
    for name in STATE_FIELDS:
        setattr(account, name, getattr(state, name))
    account.oldest_unpaid_due = engine.oldest_unpaid_due(rules_of(account), state)
    account.sequence += 1
    # Only what a step changes: a full save() re-serialised and rewrote the terms and the whole schedule
    # (JSON, hundreds of installments) on every payment — the largest part of an allocation's CPU (py-spy).
    account.save(update_fields=(*STORED_FIELDS, *extra_fields))


def accrual_rows(account, rows: list[engine.AccrualRow]) -> list[Accrual]:
    return [Accrual(account=account, accrual_date=r.accrual_date, amount=r.amount, cumulative=r.cumulative,
                    since=r.since, balance=r.balance, suspended=r.suspended) for r in rows]


def fee_rows(account, rows: list[engine.FeeRow]) -> list[Fee]:
    return [Fee(account=account, kind=r.kind, installment_number=r.installment_number, payment_id=r.payment_id,
                assessed_on=r.assessed_on, amount=r.amount) for r in rows]


def non_accrual_rows(account, rows: list[engine.NonAccrualRow]) -> list[NonAccrual]:
    return [NonAccrual(account=account, kind=r.kind, effective_date=r.effective_date, interest=r.interest)
            for r in rows]


def non_accrual_impact(row) -> journal.Impact:
    """Entry moves the interest out of income into suspense; a cure moves it back. A row of the earlier rule
    (``legacy``) is what it posted: an entry reversed the interest and forgave it, a cure posted nothing."""
    if getattr(row, "legacy", False):
        return journal.legacy_non_accrual(row.interest) if row.kind == "start" else {}
    return journal.non_accrual(row.interest if row.kind == "start" else -row.interest)


def persist_movements(account, out: engine.Movements, *, source: str) -> None:
    """Insert the subledger rows of an incremental step and post their journal entries. ``source``: what the step
    belongs to (``payment:<id>``, ``accrual_run:<id>``, ``accrual_task:<id>``, ``charge_off``…), the reference of
    its accrual and non-accrual entries and in the memo of its fee entries (DOMAIN.md: every entry traced)."""
    if out.accruals:
        Accrual.objects.bulk_create(accrual_rows(account, out.accruals))
        for suspended in (False, True):
            rows = [r for r in out.accruals if r.suspended is suspended]
            if not rows:
                continue
            total, through = sum((r.amount for r in rows), Decimal(0)), rows[-1].accrual_date
            kind = journal.accrual_kind(suspended)
            journal.post(kind=kind, effective_date=through, impact=journal.accrual(total, suspended=suspended),
                         account=account, reference=source,
                         memo={"from": rows[0].accrual_date.isoformat(), "through": through.isoformat(),
                               "days": len(rows)})
            events.emit_transaction(account, kind=kind, effective_date=through, amount=total,
                                    breakdown={"interest": total})
    for fee in out.fees:
        Fee.objects.bulk_create(fee_rows(account, [fee]))
        journal.post(kind=fee.kind, effective_date=fee.assessed_on, impact=journal.fee_assessed(fee.amount),
                     account=account, reference=str(fee.payment_id or fee.installment_number),
                     memo={"source": source})
        events.emit_transaction(account, kind=fee.kind, effective_date=fee.assessed_on, amount=fee.amount,
                                breakdown={"fees": fee.amount},
                                reference=str(fee.payment_id) if fee.payment_id else f"installment:{fee.installment_number}")
    for row in out.non_accrual:
        NonAccrual.objects.bulk_create(non_accrual_rows(account, [row]))
        if row.interest:
            kind = "non_accrual" if row.kind == "start" else "non_accrual_cure"
            journal.post(kind=kind, effective_date=row.effective_date, impact=non_accrual_impact(row),
                         account=account, reference=source)
            # what the borrower owes does not change: the interest moves between income and suspense (``kind``
            # says which way; amounts travel unsigned)
            events.emit_transaction(account, kind=kind, effective_date=row.effective_date, amount=row.interest,
                                    breakdown={"interest_suspended": row.interest})


def emit_delinquency_changes(account, out: engine.Movements) -> None:
    for change in out.delinquency[-1:]:  # the net change of this step
        first = out.delinquency[0]
        if first.previous_bucket != change.bucket:
            events.emit_delinquency(account, as_of=change.as_of, previous_bucket=first.previous_bucket,
                                    bucket=change.bucket, dpd=change.days_past_due)
