"""The portfolio run (set-based SQL) posts exactly what the per-loan path (the engine) posts."""

import random
import uuid
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from django.db import connection, transaction

from common.finance import DAY_COUNTS, accrue, add_months
from common.tenancy import tenant_context
from ledger import portfolio, services
from ledger.models import Account, Accrual, AccrualRun, Fee, JournalEntry
from tests.factories import disbursed_event

pytestmark = pytest.mark.django_db(transaction=True)


def mixed_events(n, seed=7):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        places = rng.choice([2, 2, 2, 0, 3])
        disbursed = date(2024, 1, 20) + timedelta(days=rng.randrange(0, 70))
        first = add_months(disbursed, 1)
        unit = Decimal(1).scaleb(-places)
        principal = (Decimal(rng.randrange(50_000, 5_000_000)) / 100).quantize(unit)
        out.append(dict(
            principal=str(principal), annual_rate=rng.choice(["0.12", "0.0999", "0.245", "0.05", "0.18375", "0"]),
            term=rng.choice([3, 6, 12, 24]), day_count=rng.choice(DAY_COUNTS),
            rounding_mode=rng.choice(["half_even", "half_up"]), places=places,
            disbursement_date=disbursed.isoformat(), first_payment_date=first.isoformat(),
            late_fee=rng.choice(["0", "15", "25.5"]) if places else "0", grace_days=rng.choice([5, 10, 15]),
            non_accrual_after_days=rng.choice([90, 20]), pays_first=rng.random() < 0.3,
            currency={0: "JPY", 2: "USD", 3: "KWD"}[places],
        ))
    return out


def seed(tenant, specs):
    loans = []
    for spec in specs:
        spec = dict(spec)
        pays_first = spec.pop("pays_first")
        event = disbursed_event(**spec)
        with tenant_context(tenant), transaction.atomic():
            services.account_open(event=event)
            if pays_first:
                first = event.schedule["installments"][0]
                services.payment_allocate(payment_id=str(uuid.uuid4()), loan_id=event.loan_id, amount=first["total"],
                                          currency=event.currency, value_date=first["due_date"])
        loans.append(event.loan_id)
    return loans


def snapshot(tenant, loan_id):
    with tenant_context(tenant):
        a = Account.objects.get(loan_id=loan_id)
        accruals = list(Accrual.objects.filter(account=a, reversed=False).order_by("accrual_date").values_list(
            "accrual_date", "amount", "cumulative", "since", "balance"))
        fees = list(Fee.objects.filter(account=a, reversed=False).order_by("kind", "installment_number")
                    .values_list("kind", "installment_number", "assessed_on", "amount"))
    state = (a.principal, a.interest, a.fees, a.interest_since, a.interest_posted_since, a.last_accrual_date,
             a.status, a.non_accrual, a.days_past_due, a.bucket, a.sequence)
    return state, accruals, fees


def run_portfolio(tenant, through):
    run_id = uuid.uuid4()
    with tenant_context(tenant):
        with transaction.atomic():
            run, todo = portfolio.run_start(run_id=run_id, through=through)
        for index, lo, hi in todo:
            with transaction.atomic():
                portfolio.process_chunk(run_id=run_id, through=through, index=index, lo=lo, hi=hi)
        return AccrualRun.objects.get(run_id=run_id)


def test_portfolio_and_per_loan_accrual_post_identical_rows_for_a_thousand_mixed_loans(settings):
    # given the same 1,000 mixed loans in two tenants (day counts, rounding, places, payments, late fees)
    specs = mixed_events(1000)
    per_loan = seed("perloan", specs)
    in_bulk = seed("bulk", specs)
    through = date(2024, 4, 20)
    # when: one tenant accrues loan by loan, the other as a portfolio run (catching up months of days)
    for loan_id in per_loan:
        with tenant_context("perloan"), transaction.atomic():
            services.account_accrue(loan_id=loan_id, through=through)
    portfolio.CHUNK_SIZE = 300
    run = run_portfolio("bulk", through)
    # then
    assert run.status == "completed" and run.accounts_done == run.accounts_total == 1000
    for a, b in zip(per_loan, in_bulk, strict=True):
        assert snapshot("perloan", a) == snapshot("bulk", b)
    with tenant_context("bulk"):
        assert Account.objects.filter(non_accrual=True).exists()       # the engine path inside a chunk ran
        assert Fee.objects.filter(kind="late_fee").exists()
    # and one more business day, plus a replay of the same run, stay identical and idempotent
    for loan_id in per_loan:
        with tenant_context("perloan"), transaction.atomic():
            services.account_accrue(loan_id=loan_id, through=through + timedelta(days=1))
    run_portfolio("bulk", through + timedelta(days=1))
    run_portfolio("bulk", through + timedelta(days=1))
    for a, b in zip(per_loan, in_bulk, strict=True):
        assert snapshot("perloan", a) == snapshot("bulk", b)
    with tenant_context("bulk"):
        assert JournalEntry.objects.filter(kind="accrual", account__isnull=True).exists()   # summarized GL


def test_sql_cumulative_interest_equals_common_finance_accrue_including_exact_halves():
    rng = random.Random(3)
    cases = []
    for _ in range(3000):
        places = rng.choice([0, 2, 3])
        since = date(2023, 1, 1) + timedelta(days=rng.randrange(0, 800))
        through = since + timedelta(days=rng.randrange(0, 400))
        conv = rng.choice(DAY_COUNTS)
        balance = Decimal(rng.randrange(1, 10**8)).scaleb(-places)
        rate = rng.choice([Decimal("0.12"), Decimal("0.36"), Decimal("0.072"), Decimal("0.0999"), Decimal("0.5")])
        cases.append((balance, rate, conv, since, through, places, rng.choice(["half_even", "half_up"])))
    # exact halves: 30/360, one day, 0.36 -> balance/1000; balance ending in 5 at places+3 decimals gives a tie
    for units in (5, 15, 25, 35, 1005, 2015):
        for mode in ("half_even", "half_up"):
            cases.append((Decimal(units) / 10, Decimal("0.36"), "30/360", date(2024, 1, 1), date(2024, 1, 2), 2, mode))
    with connection.cursor() as cursor:
        for case in cases:
            cursor.execute("SELECT ledger_cumulative_interest(%s, %s, %s, %s, %s, %s, %s)", list(case))
            got = cursor.fetchone()[0]
            balance, rate, conv, since, through, places, mode = case
            want = accrue(balance=balance, annual_rate=rate, day_count=conv, since=since, through=through,
                          already_posted=Decimal(0), places=places, mode=mode).cumulative
            assert got == want, case
    assert Fraction(1) == 1
