"""Non-accrual on a cash basis (DOMAIN.md): it changes what is recognised as income, never what the borrower owes.

The loan of every test: 10,000.00 at 12%, 30/360, 12 monthly installments of 888.49 from 2024-02-15, so each
30/360 month accrues 100.00 on the full principal. With ``non_accrual_after_days=30`` it enters non-accrual on
2024-03-16 (installment 1 thirty days past due), with 203.33 accrued; by 2024-04-30, 350.00 is owed.
"""

import importlib
import uuid
from datetime import date
from decimal import Decimal

import pytest
from common.tenancy import tenant_context
from django.db import connection, transaction
from ledger import accounts, events, services
from ledger.models import Account, Accrual, Allocation, JournalLine, NonAccrual
from tests.factories import disbursed_event

pytestmark = pytest.mark.django_db(transaction=True)
T = "cashbasis"
ENTRY = date(2024, 3, 16)


def atomic(fn, **kwargs):
    with tenant_context(T), transaction.atomic():
        return fn(**kwargs)


def account(loan_id) -> Account:
    with tenant_context(T):
        return Account.objects.get(loan_id=loan_id)


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
    out: dict[str, Decimal] = {}
    for line in JournalLine.objects.filter(entry__account=account(loan_id)):
        out[line.gl_account] = out.get(line.gl_account, Decimal(0)) + line.debit - line.credit
    return {k: v for k, v in out.items() if v}


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


def test_returning_the_payment_that_cured_the_loan_puts_it_back_in_non_accrual():
    # given a loan cured by a payment on 2024-04-30, and a twin that never received it
    loan, twin = opened(non_accrual_after_days=30), opened(non_accrual_after_days=30)
    accrue(loan, "2024-04-30")
    payment_id = str(uuid.uuid4())
    pay(loan, "3000.00", "2024-04-30", payment_id)
    accrue(loan, "2024-05-10")
    assert not account(loan).non_accrual
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


def test_the_migration_keeps_owed_what_the_earlier_version_forgave_at_non_accrual():
    # given a loan the earlier version put in non-accrual on 2024-03-16 and carried to 2024-04-30: interest
    # reversed, nothing suspended, nothing accrued after entry, the clock left where it stopped
    loan, twin = opened(non_accrual_after_days=30), opened(non_accrual_after_days=30)
    accrue(loan, ENTRY.isoformat())
    a = account(loan)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE ledger_journal_line DISABLE TRIGGER ledger_journal_line_immutable")
        try:
            cursor.execute("DELETE FROM ledger_journal_line WHERE gl_account LIKE 'suspended_interest%%' AND entry_id IN "
                           "(SELECT id FROM ledger_journal_entry WHERE account_id = %s)", [a.id])
        finally:
            cursor.execute("ALTER TABLE ledger_journal_line ENABLE TRIGGER ledger_journal_line_immutable")
        cursor.execute("UPDATE ledger_account SET interest_suspended = 0, last_accrual_date = '2024-04-30' "
                       "WHERE id = %s", [a.id])
        # when the migration's backfill runs
        cursor.execute(importlib.import_module("ledger.migrations.0006_non_accrual_interest_in_suspense").BACKFILL)
    accounts._RULES_CACHE.clear()
    assert account(loan).interest_suspended == Decimal("203.33")
    assert_cache_equals_lines(loan)
    # then the next day catches the days since entry up into suspense: the loan owes what the new version
    # would have had it run all along
    accrue(loan, "2024-05-01")
    accrue(twin, "2024-05-01")
    assert owed(loan) == owed(twin) == {"principal": "10000.00", "interest": "353.33", "fees": "0.00",
                                        "total": "10353.33"}
    assert gl(loan) == gl(twin)
    assert_cache_equals_lines(loan)
