"""Non-accrual on a cash basis (DOMAIN.md): it changes what is recognised as income, never what the borrower owes.

The loan of every test: 10,000.00 at 12%, 30/360, 12 monthly installments of 888.49 from 2024-02-15, so each
30/360 month accrues 100.00 on the full principal. With ``non_accrual_after_days=30`` it enters non-accrual on
2024-03-16 (installment 1 thirty days past due), with 203.33 accrued; by 2024-04-30, 350.00 is owed.
"""

import functools
import importlib
import io
import json
import uuid
from datetime import date
from decimal import Decimal

import pytest
from common.tenancy import tenant_context
from django.core.management import call_command
from django.db import connection
from ledger import accounts, engine, events, journal, services
from ledger.models import Accrual, Allocation, JournalEntry, JournalLine, NonAccrual
from tests.factories import account_of, disbursed_event, gl_sums, in_tenant

pytestmark = pytest.mark.django_db(transaction=True)
T = "cashbasis"
ENTRY = date(2024, 3, 16)


atomic = functools.partial(in_tenant, tenant=T)


account = functools.partial(account_of, tenant=T)


def opened(**kwargs):
    e = disbursed_event(**kwargs)
    atomic(services.account_open, event=e)
    return e.loan_id


def accrue(loan_id, through):
    atomic(services.account_accrue, loan_id=loan_id, through=through)


def pay(loan_id, amount, value_date, payment_id=None) -> Allocation:
    return atomic(services.payment_allocate, payment_id=payment_id or str(uuid.uuid4()), loan_id=loan_id,
                  amount=amount, currency="USD", value_date=value_date)


def gl(loan_id) -> dict[str, Decimal]:
    return gl_sums(JournalLine.objects.filter(entry__account=account(loan_id)))


def owed(loan_id) -> dict[str, str]:
    """What the borrower owes, as every event reports it."""
    return events.balances_dict(account(loan_id))


def charged(ledger: dict[str, Decimal]) -> Decimal:
    """Interest charged to the borrower so far: income plus what is held in suspense."""
    return -(ledger.get("interest_income", Decimal(0)) + ledger.get("suspended_interest_contra", Decimal(0)))


def assert_cache_equals_lines(loan_id):
    a, ledger = account(loan_id), gl(loan_id)
    assert a.interest == ledger.get("interest_receivable", 0)
    assert a.interest_suspended == ledger.get("suspended_interest", 0) == -ledger.get("suspended_interest_contra", 0)
    assert a.principal == ledger.get("loans_receivable", 0)


def accrual_rows(loan_id):
    with tenant_context(T):
        return list(Accrual.objects.filter(account=account(loan_id), reversed=False).order_by("accrual_date")
                    .values_list("accrual_date", "amount", "cumulative", "since", "balance", "suspended"))


def test_entering_non_accrual_moves_interest_out_of_income_and_keeps_it_owed():
    # given the same loan twice, one going non-accrual after 30 days past due, one never
    na, twin = opened(non_accrual_after_days=30), opened(non_accrual_after_days=3650)
    # when both are accrued through 2024-04-30
    accrue(na, "2024-04-30")
    accrue(twin, "2024-04-30")
    # then the borrower owes the same on both: 350.00 of interest
    a = account(na)
    assert a.non_accrual and not account(twin).non_accrual
    assert (a.interest, a.interest_suspended) == (0, Decimal("350.00"))
    assert owed(na) == owed(twin) == {"principal": "10000.00", "interest": "350.00", "fees": "0.00",
                                      "total": "10350.00"}
    # and the days after entry accrued on the same clock, into suspense
    rows = accrual_rows(na)
    assert [r[:5] for r in rows] == [r[:5] for r in accrual_rows(twin)]
    assert all(r[5] is (r[0] > ENTRY) for r in rows)
    with tenant_context(T):
        entry = NonAccrual.objects.get(account=a)
    assert (entry.kind, entry.effective_date, entry.interest) == ("start", ENTRY, Decimal("203.33"))
    # and none of it is income: the receivable was reversed, the memo pair holds what is owed
    ledger = gl(na)
    assert ledger.get("interest_receivable", 0) == ledger.get("interest_income", 0) == 0
    assert ledger["suspended_interest"] == Decimal("350.00") == charged(ledger) == charged(gl(twin))
    assert_cache_equals_lines(na)


def test_non_accrual_changes_income_never_the_allocation_and_a_cure_resumes_income():
    # given the same loan twice, one in non-accrual from 2024-03-16
    na, twin = opened(non_accrual_after_days=30), opened(non_accrual_after_days=3650)
    steps = [("accrue", "2024-04-30"), ("pay", "500.00", "2024-04-30"), ("accrue", "2024-05-20"),
             ("pay", "3100.00", "2024-05-20"), ("accrue", "2024-06-30"), ("pay", "1000.00", "2024-06-30")]
    allocations = {na: [], twin: []}
    # when both go through the same accruals and payments
    for step in steps:
        for loan in (na, twin):
            if step[0] == "accrue":
                accrue(loan, step[1])
            else:
                allocations[loan].append(pay(loan, step[1], step[2]))
        # then at every step the borrower owes the same and every payment is split the same
        assert owed(na) == owed(twin), step
        assert charged(gl(na)) == charged(gl(twin)), step
        assert_cache_equals_lines(na)
    split = [[(x.fees, x.interest, x.principal, x.overpayment) for x in allocations[loan]] for loan in (na, twin)]
    assert split[0] == split[1]
    first, second, third = allocations[na]
    # the first payment's interest (350.00) paid suspended interest: income when received, on a cash basis
    assert (first.interest, first.interest_suspended, first.principal) == (Decimal("350.00"), Decimal("350.00"),
                                                                           Decimal("150.00"))
    # the second brought the loan current (3,600.00 paid against 4 × 888.49 due): income resumes
    assert second.interest == second.interest_suspended > 0
    a = account(na)
    assert not a.non_accrual and a.interest_suspended == 0 and third.interest_suspended == 0
    assert a.interest == account(twin).interest
    ledger = gl(na)
    assert ledger.get("suspended_interest", 0) == ledger.get("suspended_interest_contra", 0) == 0
    assert ledger["interest_income"] == gl(twin)["interest_income"]   # all of it recognised in the end


def test_a_cure_recognises_again_the_suspended_interest_still_owed():
    # given a loan that pays principal before interest, in non-accrual with 350.00 suspended
    loan = opened(non_accrual_after_days=30, allocation_order=("fees", "principal", "interest"))
    accrue(loan, "2024-04-30")
    # when a payment covering the three installments due brings it current, all of it to principal
    allocation = pay(loan, "2665.47", "2024-04-30")
    # then the interest still owed is recognised again: receivable and income, no longer suspended
    a = account(loan)
    assert (allocation.principal, allocation.interest) == (Decimal("2665.47"), 0)
    assert not a.non_accrual and (a.interest, a.interest_suspended) == (Decimal("350.00"), 0)
    with tenant_context(T):
        cure = NonAccrual.objects.get(account=a, kind="cure")
    assert (cure.effective_date, cure.interest) == (date(2024, 4, 30), Decimal("350.00"))
    ledger = gl(loan)
    assert (ledger["interest_receivable"], ledger["interest_income"]) == (Decimal("350.00"), Decimal("-350.00"))
    assert_cache_equals_lines(loan)


@pytest.mark.parametrize("amount", ["500.00", "3000.00"])   # stays in non-accrual / brings the loan current
def test_a_back_dated_payment_in_non_accrual_ends_where_the_on_time_path_ends(amount):
    on_time, late = opened(non_accrual_after_days=30), opened(non_accrual_after_days=30)
    accrue(on_time, "2024-04-30")
    on_time_allocation = pay(on_time, amount, "2024-04-30")
    accrue(on_time, "2024-05-31")
    accrue(late, "2024-05-31")
    late_allocation = pay(late, amount, "2024-04-30")

    def state(loan_id):
        a = account(loan_id)
        return (a.principal, a.interest, a.interest_suspended, a.fees, a.non_accrual, a.interest_since,
                a.interest_posted_since, a.paid_toward_schedule, a.days_past_due, a.bucket), accrual_rows(loan_id)

    assert state(late) == state(on_time)
    assert gl(late) == gl(on_time)
    assert (late_allocation.interest, late_allocation.interest_suspended, late_allocation.principal) == (
        on_time_allocation.interest, on_time_allocation.interest_suspended, on_time_allocation.principal)
    assert account(late).non_accrual is (amount == "500.00")


@pytest.mark.parametrize("amount", ["500.00", "3000.00"])   # paid suspended interest / cured the loan
def test_returning_a_payment_in_non_accrual_restores_the_suspended_interest_and_the_non_accrual(amount):
    # given a loan that received a payment on 2024-04-30 in non-accrual, and a twin that never received it
    loan, twin = opened(non_accrual_after_days=30), opened(non_accrual_after_days=30)
    accrue(loan, "2024-04-30")
    payment_id = str(uuid.uuid4())
    assert pay(loan, amount, "2024-04-30", payment_id).interest_suspended == Decimal("350.00")
    accrue(loan, "2024-05-10")
    assert account(loan).non_accrual is (amount == "500.00")
    accrue(twin, "2024-05-10")
    # when the payment is returned
    atomic(services.payment_reverse, payment_id=payment_id, reason="NSF")
    # then the loan is back where the twin is: in non-accrual, everything since suspended, income as before
    a, b = account(loan), account(twin)
    assert a.non_accrual and (a.interest, a.interest_suspended) == (0, b.interest_suspended) == (0, Decimal("383.33"))
    assert accrual_rows(loan) == accrual_rows(twin)
    assert gl(loan) == gl(twin)
    assert_cache_equals_lines(loan)


def test_a_write_off_closes_the_suspended_interest_without_touching_income():
    loan = opened(non_accrual_after_days=30)
    accrue(loan, "2024-04-30")
    atomic(services.account_write_off, loan_id=loan, as_of="2024-04-30")
    a, ledger = account(loan), gl(loan)
    assert (a.status, a.interest, a.interest_suspended) == ("written_off", 0, 0)
    assert ledger.get("suspended_interest", 0) == ledger.get("suspended_interest_contra", 0) == 0
    assert ledger.get("interest_income", 0) == 0     # never recognised, so nothing to reverse


def _earlier_rule_advance(state, rules, to, out):
    """``engine.advance`` as the version before migration 0006 had it: entering non-accrual forgave the accrued
    interest and nothing accrued until a cure."""
    start = state.last_accrual_date
    if to <= start:
        return
    if state.status == engine.OPEN:
        if not state.non_accrual:
            stop = engine.non_accrual_date(state, rules)
            if stop is not None and stop <= to:
                stop = max(stop, start)
                engine._accrue_through(state, rules, stop, out)
                out.non_accrual.append(engine.NonAccrualRow("start", stop, state.interest))
                state.interest, state.non_accrual = Decimal(0), True
            else:
                engine._accrue_through(state, rules, to, out)
        engine._assess_late_fees(state, rules, start, to, out)
    state.last_accrual_date = to
    engine._set_delinquency(state, rules, to, out)


def snapshot(loan_id):
    a = account(loan_id)
    with tenant_context(T):
        allocations = list(Allocation.objects.filter(account=a, reversed=False).order_by("value_date", "arrival")
                           .values_list("amount", "fees", "interest", "interest_suspended", "principal", "overpayment"))
    return ((a.principal, a.interest, a.interest_suspended, a.fees, a.non_accrual, a.interest_since,
             a.interest_posted_since, a.last_accrual_date, a.paid_toward_schedule, a.days_past_due, a.bucket),
            accrual_rows(loan_id), allocations, gl(loan_id))


def live_legacy_rows(loan_id) -> int:
    return NonAccrual.objects.filter(account=account(loan_id), legacy=True, reversed=False).count()


def test_history_of_the_earlier_rule_is_restated_by_the_command_or_by_any_replay(monkeypatch):
    # given loans the earlier version carried into non-accrual on 2024-03-16, forgiving 203.33, then took a
    # payment of 500.00 on 2024-04-30 (all of it to principal, the clock restarted) and accrued to 2024-05-10
    restated, replayed, waiting, twin = (opened(non_accrual_after_days=30) for _ in range(4))
    with monkeypatch.context() as earlier:
        earlier.setattr(engine, "advance", _earlier_rule_advance)
        earlier.setattr(accounts, "non_accrual_impact", lambda row: journal.legacy_non_accrual(row.interest))
        for loan in (restated, replayed, waiting):
            accrue(loan, "2024-04-30")
            assert pay(loan, "500.00", "2024-04-30").principal == Decimal("500.00")
            accrue(loan, "2024-05-10")
    migration = importlib.import_module("ledger.migrations.0006_non_accrual_interest_in_suspense")
    with connection.cursor() as cursor:      # what migration 0006 does to such accounts
        cursor.execute(migration.MARK_LEGACY)
        cursor.execute(migration.RESTART_FROZEN_CLOCKS)
    accounts._RULES_CACHE.clear()
    # and the same loan under the current rule
    accrue(twin, "2024-04-30")
    pay(twin, "500.00", "2024-04-30")
    accrue(twin, "2024-05-10")
    assert owed(restated)["interest"] == "0.00" != owed(twin)["interest"]
    # when nobody restates a legacy loan, the next day accrues one day (9,500.00 × 12% / 360, suspended), not the
    # days the earlier rule skipped
    accrue(waiting, "2024-05-11")
    with tenant_context(T):
        day = Accrual.objects.get(account=account(waiting), accrual_date=date(2024, 5, 11), reversed=False)
    assert (day.amount, day.suspended) == (Decimal("3.17"), True)
    # when the operator runs the command for one loan: a dry run changes nothing, --apply restates it
    untouched = snapshot(restated)
    out = io.StringIO()
    call_command("restate_non_accrual", stdout=out, stderr=io.StringIO())
    assert snapshot(restated) == untouched
    reports = [json.loads(line) for line in out.getvalue().splitlines()]
    assert {r["loan_id"] for r in reports} == {restated, replayed, waiting}
    assert {r["action"] for r in reports} == {"dry run"}
    call_command("restate_non_accrual", "--apply", "--loan", restated, stdout=io.StringIO(), stderr=io.StringIO())
    # then the restated loan is exactly the loan the current rule gives, journal included: the interest the
    # earlier rule forgave is owed again, the 500.00 paid it first
    assert snapshot(restated) == snapshot(twin)
    assert_cache_equals_lines(restated)
    again = io.StringIO()
    call_command("restate_non_accrual", "--apply", "--loan", restated, stdout=io.StringIO(), stderr=again)
    assert again.getvalue().startswith("0 account(s) restated")
    # and a replay (a back-dated payment) restates a loan nobody restated the same way, its journal in line,
    # and says so in its reprocess entry
    assert live_legacy_rows(replayed) == 1
    for loan in (restated, replayed, twin):
        pay(loan, "100.00", "2024-05-05")
    assert live_legacy_rows(replayed) == 0
    assert snapshot(replayed) == snapshot(twin) == snapshot(restated)
    assert_cache_equals_lines(replayed)
    with tenant_context(T):
        memos = [e.memo for e in JournalEntry.objects.filter(account=account(replayed), kind="reprocess")]
    assert memos == [{"cause": "payment", "restated_legacy_non_accrual": True}]


def test_a_loan_cured_then_past_due_again_re_enters_non_accrual_with_what_accrued_since_the_cure():
    loan, twin = opened(non_accrual_after_days=30), opened(non_accrual_after_days=3650)
    for loan_id in (loan, twin):
        accrue(loan_id, "2024-04-30")
        pay(loan_id, "3000.00", "2024-04-30")        # cures: three installments due, 3,000.00 toward them
        accrue(loan_id, "2024-06-30")                # installment 4 (2024-05-15) unpaid: 30 days on 2024-06-14
    a = account(loan)
    with tenant_context(T):
        rows = list(NonAccrual.objects.filter(account=a).order_by("effective_date", "id")
                    .values_list("kind", "effective_date"))
    assert rows == [("start", ENTRY), ("cure", date(2024, 4, 30)), ("start", date(2024, 6, 14))]
    assert a.non_accrual and a.interest == 0 and a.interest_suspended == account(twin).interest > 0
    assert owed(loan) == owed(twin)
    assert_cache_equals_lines(loan)


def test_a_collection_on_a_charged_off_loan_in_non_accrual_pays_its_suspended_interest_as_income():
    loan = opened(non_accrual_after_days=30)
    accrue(loan, "2024-04-30")
    atomic(services.account_charge_off, loan_id=loan, as_of="2024-04-30")
    # a collection after the charge-off pays the balances in the allocation order, suspended interest first
    collected = pay(loan, "1000.00", "2024-05-10")
    a = account(loan)
    assert (collected.interest, collected.interest_suspended, collected.principal, collected.overpayment) == \
        (Decimal("350.00"), Decimal("350.00"), Decimal("650.00"), 0)
    assert (a.status, a.interest_suspended, a.principal) == ("charged_off", 0, Decimal("9350.00"))
    assert_cache_equals_lines(loan)
    # cash basis: the suspended interest is income when received
    assert gl(loan)["interest_income"] == Decimal("-350.00")


def test_paying_off_a_loan_in_non_accrual_ends_its_non_accrual():
    loan = opened(non_accrual_after_days=30, principal="1000.00")
    accrue(loan, "2024-04-30")
    assert account(loan).non_accrual
    pay(loan, owed(loan)["total"], "2024-04-30")
    a = account(loan)
    assert (a.status, a.non_accrual, a.interest_suspended) == ("paid_off", False, 0)
    assert gl(loan).get("interest_income") == Decimal("-35.00")     # all of it income, received in cash
