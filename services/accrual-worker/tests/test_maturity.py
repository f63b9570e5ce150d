"""At maturity the whole balance is due: a loan that still owes after its last due date is past due from it.

The loan of every test: 10,000.00 at 12%, 30/360, 12 monthly installments of 888.49 from 2024-02-15 (the last
on 2025-01-15), late fee 25.00 after 10 days of grace. The borrower pays every installment's scheduled amount
10 days late (inside the grace, so no late fee): each payment pays the interest of 10 more days, so when the
twelfth payment reaches the schedule's total, principal is still owed. Payments pay installments oldest first
by the running total paid toward the schedule; before this rule that total said "every installment paid" and
the loan stayed current for ever, owing principal, with no late fee, no non-accrual and no default.
"""

import functools
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from common.tenancy import tenant_context
from ledger import services
from ledger.models import Account, Fee
from tests.factories import account_of, disbursed_event, in_tenant
from tests.test_portfolio_accrual import clone_tenant, run_portfolio, snapshot

pytestmark = pytest.mark.django_db(transaction=True)
T = "maturity"
MATURITY = date(2025, 1, 15)


atomic = functools.partial(in_tenant, tenant=T)


account = functools.partial(account_of, tenant=T)


def paid_ten_days_late_every_time(tenant=T):
    event = disbursed_event(late_fee="25.00", grace_days=10)
    atomic(services.account_open, tenant=tenant, event=event)
    for installment in event.schedule["installments"]:
        paid_on = date.fromisoformat(installment["due_date"]) + timedelta(days=10)
        atomic(services.payment_allocate, tenant=tenant, payment_id=str(uuid.uuid4()), loan_id=event.loan_id,
               amount=installment["total"], currency="USD", value_date=paid_on.isoformat())
    return event


def late_fees(loan_id, tenant=T):
    with tenant_context(tenant):
        return sorted(Fee.objects.filter(account__loan_id=loan_id, kind=Fee.LATE, reversed=False)
                      .values_list("installment_number", "assessed_on"))


def test_principal_still_owed_after_the_last_payment_is_past_due_from_the_maturity_date():
    # given every installment paid in full, ten days late
    event = paid_ten_days_late_every_time()
    a = account(event.loan_id)
    # then the schedule's total is reached, principal is still owed, and the loan is 10 days past due on the day
    # of the twelfth payment (the last installment is the remainder: unpaid while anything is owed)
    assert a.paid_toward_schedule >= sum(Decimal(i["total"]) for i in event.schedule["installments"])
    assert a.status == "open" and a.principal > 0
    assert (a.oldest_unpaid_due, a.days_past_due, a.bucket) == (MATURITY, 10, "dpd_1_29")
    # when it is accrued 20 days past maturity
    atomic(services.account_accrue, loan_id=event.loan_id, through="2025-02-04")
    a = account(event.loan_id)
    # then it ages from maturity and the last installment gets its late fee on due date + grace + 1
    assert (a.days_past_due, a.bucket) == (20, "dpd_1_29")
    assert late_fees(event.loan_id) == [(12, MATURITY + timedelta(days=11))]
    assert a.fees == Decimal("25.00")


def test_a_loan_left_owing_after_maturity_goes_non_accrual_after_90_days_and_a_payoff_cures_it():
    # given the loan left owing at maturity
    event = paid_ten_days_late_every_time()
    # when nothing more is paid for 95 days past maturity
    atomic(services.account_accrue, loan_id=event.loan_id, through=(MATURITY + timedelta(days=95)).isoformat())
    a = account(event.loan_id)
    # then it is in non-accrual from day 90, in the 90-119 bucket, its interest held in suspense
    assert (a.days_past_due, a.bucket, a.non_accrual) == (95, "dpd_90_119", True)
    assert a.interest_suspended > 0
    owed = a.principal + a.interest + a.interest_suspended + a.fees
    # and paying the whole balance pays it off and cures it
    atomic(services.payment_allocate, payment_id=str(uuid.uuid4()), loan_id=event.loan_id, amount=f"{owed:.2f}",
           currency="USD", value_date=(MATURITY + timedelta(days=95)).isoformat())
    a = account(event.loan_id)
    assert (a.status, a.days_past_due, a.bucket, a.non_accrual) == ("paid_off", 0, "current", False)
    assert a.principal + a.interest + a.interest_suspended + a.fees == 0


def test_a_loan_paid_on_schedule_is_paid_off_at_maturity_and_never_past_due():
    # given the same loan paid on each due date
    event = disbursed_event(late_fee="25.00", grace_days=10)
    atomic(services.account_open, event=event)
    for installment in event.schedule["installments"]:
        atomic(services.payment_allocate, payment_id=str(uuid.uuid4()), loan_id=event.loan_id,
               amount=installment["total"], currency="USD", value_date=installment["due_date"])
    # when accrued past maturity
    atomic(services.account_accrue, loan_id=event.loan_id, through="2025-03-01")
    a = account(event.loan_id)
    # then it was paid off exactly: nothing owed, nothing past due, no late fee
    assert (a.status, a.principal, a.interest, a.fees, a.days_past_due, a.oldest_unpaid_due) == \
        ("paid_off", 0, 0, 0, 0, None)
    assert late_fees(event.loan_id) == []


def test_the_portfolio_run_ages_and_charges_a_loan_owing_after_maturity_exactly_as_the_per_loan_path():
    # given the same loan left owing at maturity in two tenants
    event = paid_ten_days_late_every_time(tenant="mat_perloan")
    [(per_loan_id, bulk_id)] = clone_tenant("mat_perloan", "mat_bulk")
    # when one is accrued loan by loan and the other by portfolio runs, 20 and then 95 days past maturity
    for through in (MATURITY + timedelta(days=20), MATURITY + timedelta(days=95)):
        atomic(services.account_accrue, tenant="mat_perloan", loan_id=event.loan_id, through=through.isoformat())
        run_portfolio("mat_bulk", through)
        # then both hold the same state, accrual rows and fees: the late fee of the last installment, aged
        # from maturity, non-accrual on day 90
        assert snapshot([bulk_id]) == snapshot([per_loan_id])
    bulk = Account.all_tenants.get(id=bulk_id)
    assert (bulk.days_past_due, bulk.non_accrual) == (95, True)
    with tenant_context("mat_bulk"):
        assert list(Fee.objects.filter(account_id=bulk_id, kind=Fee.LATE).values_list("installment_number",
                                                                                    flat=True)) == [12]


def test_the_migration_gives_accounts_stranded_by_the_earlier_rule_their_maturity_date():
    # given the loan left owing at maturity, stored as the earlier rule stored it (no oldest unpaid due date),
    # and a loan paid on schedule (paid off: nothing to age)
    import importlib

    from django.db import connection

    stranded = paid_ten_days_late_every_time()
    Account.all_tenants.filter(loan_id=stranded.loan_id).update(oldest_unpaid_due=None, days_past_due=0,
                                                                bucket="current")
    on_time = disbursed_event()
    atomic(services.account_open, event=on_time)
    for installment in on_time.schedule["installments"]:
        atomic(services.payment_allocate, payment_id=str(uuid.uuid4()), loan_id=on_time.loan_id,
               amount=installment["total"], currency="USD", value_date=installment["due_date"])
    # when migrated and accrued 20 days past maturity by the daily (portfolio) run, the path that reads the stored
    # date (the per-loan engine recomputes it)
    with connection.cursor() as cursor:
        cursor.execute(importlib.import_module("ledger.migrations.0007_owing_after_maturity_is_past_due")
                       .OWING_AFTER_MATURITY)
    run_portfolio(T, date(2025, 2, 4))
    # then the stranded loan ages from maturity with its late fee; the paid-off one is untouched
    a = account(stranded.loan_id)
    assert (a.oldest_unpaid_due, a.days_past_due) == (MATURITY, 20)
    assert late_fees(stranded.loan_id) == [(12, MATURITY + timedelta(days=11))]
    assert account(on_time.loan_id).oldest_unpaid_due is None


@pytest.mark.parametrize("tolerance, days_past_due, late_fees_charged", [("0.00", 20, [12]), ("1.00", 0, [])])
def test_an_arrears_tolerance_keeps_a_few_cents_left_at_maturity_from_ageing(tolerance, days_past_due,
                                                                           late_fees_charged):
    # given the loan paid on every due date but the last, whose scheduled amount came a day late: one more day of
    # interest, so a few cents of principal are left after maturity
    event = disbursed_event(late_fee="25.00", grace_days=10, arrears_tolerance=tolerance)
    atomic(services.account_open, event=event)
    *early, last = event.schedule["installments"]
    for installment in early:
        atomic(services.payment_allocate, payment_id=str(uuid.uuid4()), loan_id=event.loan_id,
               amount=installment["total"], currency="USD", value_date=installment["due_date"])
    atomic(services.payment_allocate, payment_id=str(uuid.uuid4()), loan_id=event.loan_id, amount=last["total"],
           currency="USD", value_date="2025-01-16")
    left = account(event.loan_id).principal
    assert Decimal("0") < left < Decimal("1.00")
    # when accrued 20 days past maturity
    atomic(services.account_accrue, loan_id=event.loan_id, through="2025-02-04")
    # then without a tolerance those cents age from maturity and bring a 25.00 late fee; within the product's
    # tolerance they do not (still owed, not past due)
    a = account(event.loan_id)
    assert a.days_past_due == days_past_due
    assert [number for number, _ in late_fees(event.loan_id)] == late_fees_charged
    assert a.status == "open" and a.principal == left


def test_an_installment_short_by_no_more_than_the_tolerance_is_not_past_due():
    # given installment 1 paid 0.50 short on its due date, with a tolerance of 1.00 (and a twin without one)
    loans = {}
    for tolerance in ("1.00", "0.00"):
        event = disbursed_event(late_fee="25.00", grace_days=10, arrears_tolerance=tolerance)
        atomic(services.account_open, event=event)
        atomic(services.payment_allocate, payment_id=str(uuid.uuid4()), loan_id=event.loan_id, amount="887.99",
               currency="USD", value_date="2024-02-15")
        atomic(services.account_accrue, loan_id=event.loan_id, through="2024-03-01")
        loans[tolerance] = account(event.loan_id)
    # then with the tolerance it is current, without it 15 days past due
    assert (loans["1.00"].days_past_due, loans["0.00"].days_past_due) == (0, 15)
