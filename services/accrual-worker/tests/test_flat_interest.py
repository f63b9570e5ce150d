"""Flat-interest loans: the ledger accrues the schedule's interest, not interest on the principal owed."""

import functools
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from common.finance import FlatInterest
from common.tenancy import tenant_context
from django.db import connection, transaction
from ledger import accounts, services
from ledger.models import Account, Accrual, Installment
from tests.factories import account_of, disbursed_event, in_tenant

pytestmark = pytest.mark.django_db(transaction=True)
T = "flat"


atomic = functools.partial(in_tenant, tenant=T)


account = functools.partial(account_of, tenant=T)


def test_paying_each_installment_on_its_due_date_pays_exactly_the_flat_schedule():
    # given: 10000 at 12% flat over 12 months (100.00 interest every period), actual/365
    e = disbursed_event(interest_method="flat", day_count="actual/365", amortization="equal_principal")
    atomic(services.account_open, event=e)
    installments = e.schedule["installments"]
    assert {i["interest"] for i in installments} == {"100.00"}
    # when: each installment paid on its due date (the account accrued day by day up to it)
    for inst in installments:
        atomic(services.account_accrue, loan_id=e.loan_id, through=inst["due_date"])
        allocation = atomic(services.payment_allocate, payment_id=str(uuid.uuid4()), loan_id=e.loan_id,
                            amount=inst["total"], currency="USD", value_date=inst["due_date"])
        # then: interest and principal exactly as scheduled (declining balance would have accrued
        # 9166.67 × 12% × 29/365 = 87.40 in period 2 and paid more principal)
        assert (str(allocation.interest), str(allocation.principal), allocation.overpayment) == (
            inst["interest"], inst["principal"], 0), inst["number"]
    a = account(e.loan_id)
    assert (a.principal, a.interest, a.fees, a.status) == (0, 0, 0, "paid_off")
    with tenant_context(T):
        assert sum(Accrual.objects.filter(account=a, reversed=False).values_list("amount", flat=True)) \
            == Decimal("1200.00")


def test_an_early_principal_payment_does_not_reduce_the_flat_interest_of_later_periods():
    e = disbursed_event(interest_method="flat", day_count="30/360")
    atomic(services.account_open, event=e)
    # when: 5000 extra paid with the first installment
    first = e.schedule["installments"][0]
    atomic(services.account_accrue, loan_id=e.loan_id, through=first["due_date"])
    atomic(services.payment_allocate, payment_id=str(uuid.uuid4()), loan_id=e.loan_id,
           amount=str(Decimal(first["total"]) + 5000), currency="USD", value_date=first["due_date"])
    second = e.schedule["installments"][1]
    atomic(services.account_accrue, loan_id=e.loan_id, through=second["due_date"])
    # then: period 2 still earns its 100.00, on the schedule's clock (not restarted by the payment)
    a = account(e.loan_id)
    assert a.interest == Decimal("100.00")
    assert (a.interest_since, a.interest_posted_since) == (date(2024, 1, 15), Decimal("200.00"))


def test_a_flat_loan_in_non_accrual_keeps_its_schedule_clock_and_resumes_income_when_cured():
    e = disbursed_event(interest_method="flat", day_count="30/360", non_accrual_after_days=30)
    atomic(services.account_open, event=e)
    atomic(services.account_accrue, loan_id=e.loan_id, through="2024-04-30")
    a = account(e.loan_id)
    # the schedule's clock kept running in suspense: periods 1-3 (300.00) and half of period 4 (50.00)
    assert a.non_accrual and (a.interest, a.interest_suspended) == (0, Decimal("350.00"))
    # when: the arrears are paid on 2024-04-30 (installments 1-3: their interest comes out of suspense)
    owed = sum(Decimal(i["total"]) for i in e.schedule["installments"][:3])
    atomic(services.payment_allocate, payment_id=str(uuid.uuid4()), loan_id=e.loan_id, amount=str(owed),
           currency="USD", value_date="2024-04-30")
    a = account(e.loan_id)
    assert not a.non_accrual and a.interest_suspended == 0
    clock = FlatInterest.from_schedule(e.schedule, disbursement_date=date(2024, 1, 15), places=2, mode="half_even")
    assert a.interest_posted_since == clock.cumulative(date(2024, 4, 30))
    # then the next day accrues one day of period 4 (Apr 15 → May 15, 30 days): 100 × 16/30 − 100 × 15/30
    atomic(services.account_accrue, loan_id=e.loan_id, through="2024-05-01")
    with tenant_context(T):
        last = Accrual.objects.filter(account=a, accrual_date=date(2024, 5, 1)).get()
    assert last.amount == Decimal("3.33")


def test_sql_flat_cumulative_interest_equals_common_finance_including_halves():
    # given flat accounts with odd first periods, places 0/2/3, both rounding modes
    specs = [dict(principal=p, annual_rate=r, term=t, places=pl, rounding_mode=m, first_payment_date=f,
                  currency={0: "JPY", 2: "USD", 3: "KWD"}[pl])
             for p, r, t, pl, m, f in [("10000.00", "0.12", 12, 2, "half_even", "2024-02-15"),
                                       ("777.77", "0.245", 6, 2, "half_up", "2024-03-02"),
                                       ("500000", "0.18", 24, 0, "half_even", "2024-02-04"),
                                       ("1234.567", "0.0999", 3, 3, "half_up", "2024-02-15"),
                                       ("3100.00", "0.36", 4, 2, "half_even", "2024-02-15")]]
    events = [disbursed_event(interest_method="flat", **s) for s in specs]
    for e in events:
        atomic(services.account_open, event=e)
    with tenant_context(T), connection.cursor() as cursor:
        for e in events:
            a = Account.objects.get(loan_id=e.loan_id)
            assert Installment.objects.filter(account=a, period_start__isnull=True).count() == 0
            clock = FlatInterest.from_schedule(e.schedule, disbursement_date=a.disbursement_date, places=a.places,
                                               mode=a.rounding_mode)
            last = clock.periods[-1].due + timedelta(days=3)
            day = a.disbursement_date - timedelta(days=1)
            while day <= last:
                cursor.execute("SELECT ledger_flat_cumulative_interest(%s, %s, %s, %s)",
                               [a.id, day, a.places, a.rounding_mode])
                assert cursor.fetchone()[0] == clock.cumulative(day), (e.loan_id, day)
                day += timedelta(days=1)


def _backfill():
    import importlib

    with connection.cursor() as cursor:
        cursor.execute(importlib.import_module("ledger.migrations.0005_flat_interest_accrual").BACKFILL)
    accounts._RULES_CACHE.clear()


def _as_before_the_migration(loan_id):
    """The rows of a flat account as the earlier version wrote them: declining method, no period rows."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_account SET interest_method = 'declining_balance' WHERE loan_id = %s", [loan_id])
        cursor.execute("UPDATE ledger_installment SET period_start = NULL, interest = NULL WHERE account_id = "
                       "(SELECT id FROM ledger_account WHERE loan_id = %s)", [loan_id])
    accounts._RULES_CACHE.clear()


def test_the_migration_backfills_what_account_open_writes():
    events = [disbursed_event(interest_method=m, first_payment_date=f) for m, f in
              [("flat", "2024-02-15"), ("flat", "2024-03-01"), ("declining_balance", "2024-02-15")]]
    for e in events:
        atomic(services.account_open, event=e)

    def rows():
        with tenant_context(T):
            return (sorted(Account.objects.values_list("loan_id", "interest_method", "interest_since",
                                                       "interest_posted_since")),
                    sorted(Installment.objects.values_list("account__loan_id", "number", "period_start", "interest")))

    written = rows()
    for e in events[:2]:
        _as_before_the_migration(e.loan_id)
    _backfill()
    assert rows() == written
    assert {m for _, m, _, _ in written[0]} == {"flat", "declining_balance"}


def test_the_migration_moves_an_accrued_flat_account_onto_its_schedules_clock_without_a_catch_up():
    # given a flat loan the earlier version accrued on the declining clock (installment 1 paid on time)
    e = disbursed_event(interest_method="flat", day_count="30/360")
    atomic(services.account_open, event=e)
    _as_before_the_migration(e.loan_id)
    first = e.schedule["installments"][0]
    atomic(services.account_accrue, loan_id=e.loan_id, through=first["due_date"])
    atomic(services.payment_allocate, payment_id=str(uuid.uuid4()), loan_id=e.loan_id, amount=first["total"],
           currency="USD", value_date=first["due_date"])
    atomic(services.account_accrue, loan_id=e.loan_id, through="2024-03-20")
    before = account(e.loan_id)
    assert before.interest_since == date(2024, 2, 15)           # the declining clock restarted at the payment
    # when migrated, then accrued one more day
    _backfill()
    atomic(services.account_accrue, loan_id=e.loan_id, through="2024-03-21")
    # then that day posts one day of period 3 (Mar 15 → Apr 15, 31 days: 100 × 6/31 − 100 × 5/31), no catch-up
    with tenant_context(T):
        day = Accrual.objects.get(account=before, accrual_date=date(2024, 3, 21), reversed=False)
    assert day.amount == Decimal("3.22")
    assert account(e.loan_id).interest_since == date(2024, 1, 15)


def test_a_flat_loan_earns_nothing_once_its_principal_is_repaid_on_both_paths():
    # given two identical flat loans that take principal first, each repaid in full on 2024-02-01
    from tests.test_portfolio_accrual import run_portfolio

    events = {}
    for tenant in (T, "flat-bulk"):
        e = disbursed_event(interest_method="flat", allocation_order=("principal", "interest", "fees"))
        with tenant_context(tenant), transaction.atomic():
            services.account_open(event=e)
        with tenant_context(tenant), transaction.atomic():
            services.payment_allocate(payment_id=str(uuid.uuid4()), loan_id=e.loan_id, amount="10000.00",
                                      currency="USD", value_date="2024-02-01")
        events[tenant] = e
    # when one is accrued loan by loan and the other by a portfolio run, seven weeks on
    atomic(services.account_accrue, loan_id=events[T].loan_id, through="2024-03-20")
    run_portfolio("flat-bulk", date(2024, 3, 20))
    # then both still owe only what was earned by Feb 1 (100 × 17/31 = 54.84): no interest without principal
    with tenant_context(T):
        a = Account.objects.get(loan_id=events[T].loan_id)
    with tenant_context("flat-bulk"):
        b = Account.objects.get(loan_id=events["flat-bulk"].loan_id)
    for acc in (a, b):
        assert (acc.principal, acc.interest, acc.status) == (0, Decimal("54.84"), "open")
    assert (a.interest_posted_since, a.last_accrual_date) == (b.interest_posted_since, b.last_accrual_date)


def test_a_paid_off_flat_loan_reopened_by_an_nsf_fee_does_not_catch_up_interest():
    # given a flat loan paid off on Feb 1, then an extra payment on Feb 5 that comes back NSF on Mar 1
    e = disbursed_event(interest_method="flat", nsf_fee="30.00")
    atomic(services.account_open, event=e)
    atomic(services.account_accrue, loan_id=e.loan_id, through="2024-02-01")
    payoff = account(e.loan_id)
    atomic(services.payment_allocate, payment_id=str(uuid.uuid4()), loan_id=e.loan_id,
           amount=f"{payoff.principal + payoff.interest:.2f}", currency="USD", value_date="2024-02-01")
    extra = str(uuid.uuid4())
    atomic(services.payment_allocate, payment_id=extra, loan_id=e.loan_id, amount="50.00", currency="USD",
           value_date="2024-02-05")
    atomic(services.account_accrue, loan_id=e.loan_id, through="2024-03-01")
    atomic(services.payment_reverse, payment_id=extra, reason="NSF", on="2024-03-01")
    # when accrued on
    atomic(services.account_accrue, loan_id=e.loan_id, through="2024-03-20")
    # then it owes the NSF fee only: the paid-off weeks are not accrued after the fact
    a = account(e.loan_id)
    assert (a.status, a.principal, a.interest, a.fees) == ("open", 0, 0, Decimal("30.00"))


def snapshot(loan_id):
    a = account(loan_id)
    with tenant_context(T):
        accruals = sorted(Accrual.objects.filter(account=a, reversed=False).values_list("accrual_date", "amount"))
    return (a.principal, a.interest, a.fees, a.interest_since, a.interest_posted_since, a.last_accrual_date,
            a.paid_toward_schedule, a.status, a.days_past_due), accruals


def test_a_back_dated_payment_on_a_flat_loan_ends_where_the_on_time_path_ends():
    on_time, late = (disbursed_event(interest_method="flat", day_count="actual/365", late_fee="25.00", grace_days=5)
                     for _ in range(2))
    for e in (on_time, late):
        atomic(services.account_open, event=e)
    amount = str(Decimal(on_time.schedule["installments"][0]["total"]) + 2000)   # and 2000 of principal early
    atomic(services.payment_allocate, payment_id=str(uuid.uuid4()), loan_id=on_time.loan_id, amount=amount,
           currency="USD", value_date="2024-02-15")
    atomic(services.account_accrue, loan_id=on_time.loan_id, through="2024-03-10")
    atomic(services.account_accrue, loan_id=late.loan_id, through="2024-03-10")
    # when the same payment reaches the other loan, dated 2024-02-15, after its late fee (the replay path)
    allocation = atomic(services.payment_allocate, payment_id=str(uuid.uuid4()), loan_id=late.loan_id,
                        amount=amount, currency="USD", value_date="2024-02-15")
    # then
    assert (allocation.interest, allocation.principal) == (Decimal("100.00"), Decimal("2833.33"))
    assert snapshot(late.loan_id) == snapshot(on_time.loan_id)
    # period 2 (Feb 15 → Mar 15, 29 days) has earned 100 × 24/29 by Mar 10, on the schedule's clock
    assert account(late.loan_id).interest == Decimal("82.76")
