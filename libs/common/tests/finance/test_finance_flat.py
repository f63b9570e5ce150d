"""Flat-interest accrual: the scheduled interest of each period, earned evenly, whatever is repaid early."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from common.finance import FlatInterest, FlatPeriod, LoanTerms, allocate, generate_schedule, payoff_quote
from finance_testkit import FAST, loan_terms
from hypothesis import given
from hypothesis import strategies as st

flat = loan_terms(interest_methods=("flat",), max_term=36)


def clock(terms: LoanTerms) -> tuple[FlatInterest, object]:
    schedule = generate_schedule(terms)
    return FlatInterest.from_schedule(schedule.to_dict(), disbursement_date=terms.disbursement_date,
                                      places=terms.rounding_places, mode=terms.rounding_mode), schedule


def terms_12_flat(**overrides) -> LoanTerms:
    values = dict(principal=Decimal("10000.00"), annual_rate=Decimal("0.12"), term=12, frequency="monthly",
                  interest_method="flat", amortization="equal_installments", day_count="actual/365",
                  rounding_mode="half_even", rounding_places=2, disbursement_date=date(2024, 1, 15),
                  first_payment_date=date(2024, 2, 15))
    return LoanTerms(**{**values, **overrides})


def test_each_period_earns_its_scheduled_interest_evenly_over_its_days():
    # given: 10000 at 12% flat, 12 monthly: 100.00 a period, whatever the day count
    interest, schedule = clock(terms_12_flat())
    assert {i.interest for i in schedule.installments} == {Decimal("100.00")}
    # then: linear inside a period (Jan 15 → Feb 15 is 31 days), exact on each due date
    assert interest.cumulative(date(2024, 1, 15)) == 0
    assert interest.cumulative(date(2024, 1, 16)) == Decimal("3.23")          # 100 × 1/31
    assert interest.cumulative(date(2024, 1, 31)) == Decimal("51.61")         # 100 × 16/31
    assert interest.cumulative(date(2024, 2, 15)) == Decimal("100.00")
    assert interest.cumulative(date(2024, 3, 1)) == Decimal("151.72")         # 100 + 100 × 15/29
    assert interest.cumulative(date(2025, 1, 15)) == interest.total == Decimal("1200.00")
    # and nothing accrues after the last due date
    assert interest.cumulative(date(2026, 6, 1)) == Decimal("1200.00")


def test_flat_differs_from_declining_balance_after_principal_is_repaid():
    # the bug this clock fixes: on the declining formula period 2 would accrue 9166.67 × 1% = 91.67
    interest, schedule = clock(terms_12_flat(day_count="30/360"))
    second = schedule.installments[1]
    assert interest.cumulative(second.due_date) - interest.cumulative(schedule.installments[0].due_date) \
        == Decimal("100.00") == second.interest


@FAST
@given(flat)
def test_daily_postings_add_up_to_each_installments_interest_on_its_due_date(terms):
    # given any flat loan (odd first period, any frequency, places, rounding)
    interest, schedule = clock(terms)
    start = terms.disbursement_date
    for inst in schedule.installments:
        # when: one posting a day through the period, each the difference of cumulatives
        posted, amounts = interest.cumulative(start), []
        day = start + timedelta(days=1)
        while day <= inst.due_date:
            accrual = interest.accrue(through=day, already_posted=posted)
            amounts.append(accrual.amount)
            posted = accrual.cumulative
            day += timedelta(days=1)
        # then
        assert sum(amounts, Decimal(0)) == inst.interest
        assert all(a >= 0 for a in amounts)
        start = inst.due_date
    assert interest.total == schedule.totals["interest"]


@FAST
@given(flat, st.sampled_from([("fees", "interest", "principal"), ("interest", "fees", "principal")]))
def test_paying_each_installment_on_its_due_date_pays_exactly_its_split(terms, order):
    interest, schedule = clock(terms)
    principal, interest_owed, fees_owed, posted = terms.principal, Decimal(0), Decimal(0), Decimal(0)
    for inst in schedule.installments:
        accrual = interest.accrue(through=inst.due_date, already_posted=posted)
        interest_owed += accrual.amount
        posted = accrual.cumulative
        fees_owed += inst.fees
        paid = allocate(amount=inst.total, owed={"fees": fees_owed, "interest": interest_owed, "principal": principal},
                        order=order, places=terms.rounding_places)
        assert (paid.fees, paid.interest, paid.principal, paid.overpayment) == (inst.fees, inst.interest,
                                                                              inst.principal, 0)
        fees_owed, interest_owed, principal = fees_owed - paid.fees, interest_owed - paid.interest, \
            principal - paid.principal
    assert (principal, interest_owed, fees_owed) == (0, 0, 0)


@FAST
@given(flat, st.data())
def test_payoff_quote_charges_the_interest_earned_so_far_and_pays_everything(terms, data):
    interest, schedule = clock(terms)
    k = data.draw(st.integers(0, terms.term - 1), label="installments paid")
    paid = schedule.installments[:k]
    principal = terms.principal - sum((i.principal for i in paid), Decimal(0))
    start = paid[-1].due_date if paid else terms.disbursement_date
    as_of = start + timedelta(days=data.draw(st.integers(0, 60), label="days to as_of"))
    posted_through = start + timedelta(days=data.draw(st.integers(0, (as_of - start).days), label="posted"))
    posted = interest.cumulative(posted_through)
    accrued_unpaid = posted - sum((i.interest for i in paid), Decimal(0))
    # when
    quote = payoff_quote(as_of=as_of, principal=principal, interest_accrued=accrued_unpaid, fees=Decimal(0),
                         annual_rate=terms.annual_rate, day_count=terms.day_count, since=terms.disbursement_date,
                         interest_posted_since=posted, places=terms.rounding_places, mode=terms.rounding_mode,
                         flat=interest)
    # then: what the loan has earned through as_of and not been paid, plus the principal left
    assert quote.interest == interest.cumulative(as_of) - sum((i.interest for i in paid), Decimal(0))
    # and the ledger, posting the remaining days one by one, owes exactly the quote: paid, it pays all
    owed_interest, day = accrued_unpaid, posted_through
    while day < as_of:
        day += timedelta(days=1)
        posting = interest.accrue(through=day, already_posted=posted)
        owed_interest, posted = owed_interest + posting.amount, posting.cumulative
    paid_off = allocate(amount=quote.total, owed={"fees": Decimal(0), "interest": owed_interest, "principal": principal},
                        order=("fees", "interest", "principal"), places=terms.rounding_places)
    assert (paid_off.interest, paid_off.principal, paid_off.overpayment) == (owed_interest, principal, 0)
    assert json.loads(json.dumps(quote.explain()))["rule"].startswith("interest = interest_accrued + (flat")


def test_periods_must_be_contiguous_and_forward():
    with pytest.raises(ValueError):
        FlatInterest(periods=(FlatPeriod(date(2024, 1, 1), date(2024, 2, 1), Decimal(1)),
                              FlatPeriod(date(2024, 2, 2), date(2024, 3, 1), Decimal(1))), places=2, mode="half_even")
    with pytest.raises(ValueError):
        FlatInterest(periods=(FlatPeriod(date(2024, 2, 1), date(2024, 2, 1), Decimal(1)),), places=2,
                     mode="half_even")
