"""Flat-interest loans: the ledger accrues the schedule's interest, not interest on the principal owed."""

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from common.finance import FlatInterest
from common.tenancy import tenant_context
from django.db import connection, transaction
from ledger import services
from ledger.models import Account, Accrual, Installment
from tests.factories import disbursed_event

pytestmark = pytest.mark.django_db(transaction=True)
T = "flat"


def atomic(fn, **kwargs):
    with tenant_context(T), transaction.atomic():
        return fn(**kwargs)


def account(loan_id) -> Account:
    with tenant_context(T):
        return Account.objects.get(loan_id=loan_id)


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


def test_a_flat_loan_in_non_accrual_resumes_on_its_schedule_clock_when_cured():
    e = disbursed_event(interest_method="flat", day_count="30/360", non_accrual_after_days=30)
    atomic(services.account_open, event=e)
    atomic(services.account_accrue, loan_id=e.loan_id, through="2024-04-30")
    a = account(e.loan_id)
    assert a.non_accrual and a.interest == 0
    # when: the arrears are paid on 2024-04-30 (installments 1-2 and the accrual reversed at non-accrual)
    owed = sum(Decimal(i["total"]) for i in e.schedule["installments"][:3])
    atomic(services.payment_allocate, payment_id=str(uuid.uuid4()), loan_id=e.loan_id, amount=str(owed),
           currency="USD", value_date="2024-04-30")
    a = account(e.loan_id)
    assert not a.non_accrual
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


def test_the_migration_backfills_what_account_open_writes():
    import importlib

    backfill = importlib.import_module("ledger.migrations.0005_flat_interest_accrual").BACKFILL
    events = [disbursed_event(interest_method=m, first_payment_date=f) for m, f in
              [("flat", "2024-02-15"), ("flat", "2024-03-01"), ("declining_balance", "2024-02-15")]]
    for e in events:
        atomic(services.account_open, event=e)

    def rows():
        with tenant_context(T):
            return (sorted(Account.objects.values_list("loan_id", "interest_method")),
                    sorted(Installment.objects.values_list("account__loan_id", "number", "period_start", "interest")))

    written = rows()
    with connection.cursor() as cursor:   # as before the migration: the columns at their defaults
        cursor.execute("UPDATE ledger_account SET interest_method = 'declining_balance'; "
                       "UPDATE ledger_installment SET period_start = NULL, interest = NULL")
        cursor.execute(backfill)
    assert rows() == written
    assert {m for _, m in written[0]} == {"flat", "declining_balance"}


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
