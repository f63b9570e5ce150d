"""Daily accrual, on-time repayment and payoff quotes: one formula, no drift."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from common.finance import (
    DAY_COUNTS,
    LoanTerms,
    accrue,
    allocate,
    daily_accruals,
    generate_schedule,
    payoff_quote,
    round_money,
    year_fraction,
)
from finance_testkit import FAST, SLOW, case, loan_terms
from hypothesis import given
from hypothesis import strategies as st

declining = loan_terms(interest_methods=("declining_balance",), max_term=36)
PRINCIPAL_LAST_ORDERS = st.sampled_from([("fees", "interest", "principal"), ("interest", "fees", "principal")])


def test_accrue_posts_the_difference_of_rounded_cumulatives():
    # given: 10000 at 12% actual/365; 3.287671... a day
    common = dict(balance=Decimal("10000.00"), annual_rate=Decimal("0.12"), day_count="actual/365",
                  since=date(2023, 3, 1), places=2, mode="half_even")
    # when
    day1 = accrue(**common, through=date(2023, 3, 2), already_posted=Decimal(0))
    day2 = accrue(**common, through=date(2023, 3, 3), already_posted=day1.cumulative)
    day3 = accrue(**common, through=date(2023, 3, 4), already_posted=day2.cumulative)
    # then
    assert [str(a.amount) for a in (day1, day2, day3)] == ["3.29", "3.29", "3.28"]
    assert day3.cumulative == Decimal("9.86") and day3.fraction == Fraction(3, 365)
    explained = json.loads(json.dumps(day3.explain()))
    assert explained["year_fraction"] == {"fraction": "3/365", "decimal": "0.0082191780821917808219"}
    assert explained["inputs"]["already_posted"] == "6.58"
    assert explained["cumulative_unrounded"].startswith("9.8630136986")


def test_accrue_reverses_when_more_was_posted_than_accrues():
    accrual = accrue(balance=Decimal("1000.00"), annual_rate=Decimal("0.12"), day_count="30/360",
                     since=date(2024, 1, 15), through=date(2024, 1, 16), already_posted=Decimal("1.00"),
                     places=2, mode="half_even")
    assert accrual.cumulative == Decimal("0.33") and accrual.amount == Decimal("-0.67")


def test_daily_accruals_resume_where_they_stopped():
    common = dict(balance=Decimal("5000.00"), annual_rate=Decimal("0.07"), day_count="actual/360",
                  since=date(2024, 1, 15), places=2, mode="half_up")
    whole = daily_accruals(**common, through=date(2024, 2, 15))
    first = daily_accruals(**common, through=date(2024, 1, 31))
    rest = daily_accruals(**common, through=date(2024, 2, 15), accrued_through=date(2024, 1, 31),
                          already_posted=sum(a.amount for a in first))
    assert [a.amount for a in whole] == [a.amount for a in first + rest]
    assert len(whole) == 31 and whole[0].through == date(2024, 1, 16) and whole[-1].through == date(2024, 2, 15)


@SLOW
@given(declining)
def test_daily_accruals_between_due_dates_sum_to_the_scheduled_interest(terms):
    # given: a declining-balance schedule under any convention, paid on time
    schedule = generate_schedule(terms)
    for inst in schedule.installments:
        # when: one posting a day from the period start to the due date
        postings = daily_accruals(
            balance=inst.opening_balance, annual_rate=terms.annual_rate, day_count=terms.day_count,
            since=inst.period_start, through=inst.due_date, places=terms.rounding_places, mode=terms.rounding_mode,
        )
        # then
        assert len(postings) == (inst.due_date - inst.period_start).days
        assert sum((p.amount for p in postings), Decimal(0)) == inst.interest
        assert all(p.amount >= 0 for p in postings)


@FAST
@given(declining, PRINCIPAL_LAST_ORDERS)
def test_paying_each_installment_on_its_due_date_leaves_nothing_owed(terms, order):
    # given
    schedule = generate_schedule(terms)
    principal, interest_owed, fees_owed = terms.principal, Decimal(0), Decimal(0)
    since = terms.disbursement_date
    for inst in schedule.installments:
        # when: accrue up to the due date, then pay the installment total
        interest_owed += accrue(
            balance=principal, annual_rate=terms.annual_rate, day_count=terms.day_count, since=since,
            through=inst.due_date, already_posted=Decimal(0), places=terms.rounding_places, mode=terms.rounding_mode,
        ).amount
        fees_owed += inst.fees
        allocation = allocate(amount=inst.total, owed={"fees": fees_owed, "interest": interest_owed,
                                                       "principal": principal},
                              order=order, places=terms.rounding_places)
        # then: the allocation is exactly the installment's split
        assert (allocation.fees, allocation.interest, allocation.principal, allocation.overpayment) == (
            inst.fees, inst.interest, inst.principal, 0
        )
        fees_owed -= allocation.fees
        interest_owed -= allocation.interest
        principal -= allocation.principal
        since = inst.due_date
    assert (principal, interest_owed, fees_owed) == (0, 0, 0)


@FAST
@given(declining, st.data())
def test_payoff_quote_paid_on_its_date_leaves_nothing_owed(terms, data):
    # given: k installments paid on time, then daily accruals posted up to some day before as_of
    schedule = generate_schedule(terms)
    k = data.draw(st.integers(0, terms.term - 1), label="installments paid")
    principal = terms.principal - sum((i.principal for i in schedule.installments[:k]), Decimal(0))
    since = schedule.installments[k].period_start
    as_of = since + timedelta(days=data.draw(st.integers(0, 70), label="days to as_of"))
    posted_through = since + timedelta(days=data.draw(st.integers(0, (as_of - since).days), label="posted"))
    common = dict(balance=principal, annual_rate=terms.annual_rate, day_count=terms.day_count, since=since,
                  places=terms.rounding_places, mode=terms.rounding_mode)
    posted = sum((a.amount for a in daily_accruals(**common, through=posted_through)), Decimal(0))
    fees = terms.fees if k == 0 else Decimal(0)
    # when
    quote = payoff_quote(as_of=as_of, principal=principal, interest_accrued=posted, fees=fees,
                         annual_rate=terms.annual_rate, day_count=terms.day_count, since=since,
                         interest_posted_since=posted, places=terms.rounding_places, mode=terms.rounding_mode)
    # then: the ledger, posting the remaining days one by one, owes exactly the quote
    rest = daily_accruals(**common, through=as_of, accrued_through=posted_through, already_posted=posted)
    owed = {"fees": fees, "interest": posted + sum((a.amount for a in rest), Decimal(0)), "principal": principal}
    paid = allocate(amount=quote.total, owed=owed, order=("fees", "interest", "principal"),
                    places=terms.rounding_places)
    assert paid.overpayment == 0
    assert (paid.fees, paid.interest, paid.principal) == (owed["fees"], owed["interest"], owed["principal"])
    exact = Fraction(principal) * Fraction(terms.annual_rate) * year_fraction(terms.day_count, since, as_of)
    assert quote.interest == round_money(exact, places=terms.rounding_places, mode=terms.rounding_mode)
    json.dumps(quote.explain())


@pytest.mark.parametrize("day_count", DAY_COUNTS)
def test_payoff_quote_on_a_due_date_equals_the_schedule(day_count):
    # given: oracle-A-like loan under each convention; the quote on the first due date
    request = {**case("schedules.json", "A_equal_installments")["request"], "day_count": day_count}
    terms = LoanTerms.from_dict(request)
    first = generate_schedule(terms).installments[0]
    quote = payoff_quote(as_of=first.due_date, principal=terms.principal, interest_accrued=Decimal(0),
                         fees=Decimal(0), annual_rate=terms.annual_rate, day_count=day_count,
                         since=terms.disbursement_date, interest_posted_since=Decimal(0), places=2, mode="half_even")
    assert quote.interest == first.interest
    assert quote.to_dict() == {"as_of": "2024-02-15", "principal": "10000.00", "interest": str(first.interest),
                               "fees": "0.00", "total": str(Decimal("10000.00") + first.interest)}
