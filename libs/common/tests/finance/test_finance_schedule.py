"""Schedule generation: conventions and properties."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from common.finance import LoanTerms, generate_schedule, round_money, year_fraction
from finance_testkit import FAST, case, loan_terms
from hypothesis import given


def _terms(**overrides) -> LoanTerms:
    base = LoanTerms.from_dict(case("schedules.json", "A_equal_installments")["request"])
    values = {**base.__dict__, **overrides}
    return LoanTerms(**values)


@FAST
@given(loan_terms())
def test_principal_sums_to_the_loan_and_balances_fall_to_exactly_zero(terms):
    schedule = generate_schedule(terms)
    rows = schedule.installments
    assert len(rows) == terms.term
    assert sum(i.principal for i in rows) == terms.principal == schedule.totals["principal"]
    assert rows[-1].balance_after == 0
    balance = terms.principal
    for inst in rows:
        assert inst.principal >= 0 and inst.interest >= 0
        assert inst.balance_after >= 0
        assert inst.balance_after == balance - inst.principal
        assert inst.total == inst.principal + inst.interest + inst.fees
        balance = inst.balance_after
    assert schedule.totals["total"] == sum(i.total for i in rows)
    assert schedule.totals["fees"] == terms.fees == rows[0].fees
    assert [i.due_date for i in rows] == sorted({i.due_date for i in rows})
    assert rows[0].period_start == terms.disbursement_date
    json.dumps(schedule.explain())


@FAST
@given(loan_terms(interest_methods=("declining_balance",), amortizations=("equal_installments",)))
def test_equal_installment_totals_are_equal_except_the_last(terms):
    schedule = generate_schedule(terms)
    installment = schedule.installment_amount
    for inst in schedule.installments[:-1]:
        if 0 <= installment - inst.interest <= inst.opening_balance:
            assert inst.total - inst.fees == installment
    # and on a regular 30/360 monthly schedule in cents every period is exactly 1/12 and nothing is capped
    # (the rounding drift, at most n/2 cents, stays below one installment for P >= 1000)
    regular = LoanTerms(**{
        **terms.__dict__, "day_count": "30/360", "frequency": "monthly", "first_payment_date": None,
        "rounding_places": 2, "principal": terms.principal.quantize(Decimal("0.01")),
        "disbursement_date": terms.disbursement_date.replace(day=min(terms.disbursement_date.day, 28)),
    })
    rows = generate_schedule(regular).installments
    r = Fraction(regular.annual_rate) / 12
    assert {i.total - i.fees for i in rows[:-1]} <= {generate_schedule(regular).installment_amount}
    for inst in rows:
        assert inst.interest == round_money(Fraction(inst.opening_balance) * r, places=regular.rounding_places,
                                            mode=regular.rounding_mode)


@FAST
@given(loan_terms(interest_methods=("declining_balance",)))
def test_declining_interest_is_the_day_count_interest_of_the_opening_balance(terms):
    for inst in generate_schedule(terms).installments:
        fraction = year_fraction(terms.day_count, inst.period_start, inst.due_date)
        expected = round_money(Fraction(inst.opening_balance) * Fraction(terms.annual_rate) * fraction,
                               places=terms.rounding_places, mode=terms.rounding_mode)
        assert inst.interest == expected


def test_monthly_due_dates_keep_the_day_clamped_to_month_end():
    terms = _terms(disbursement_date=date(2023, 12, 31), first_payment_date=date(2024, 1, 31), term=4)
    assert [i.due_date for i in generate_schedule(terms).installments] == [
        date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 30)
    ]


def test_default_first_payment_is_one_period_after_disbursement():
    monthly = generate_schedule(_terms(disbursement_date=date(2024, 1, 31), first_payment_date=None, term=3))
    assert [i.due_date for i in monthly.installments] == [date(2024, 2, 29), date(2024, 3, 29), date(2024, 4, 29)]
    for frequency, days in (("biweekly", 14), ("weekly", 7)):
        rows = generate_schedule(_terms(frequency=frequency, first_payment_date=None, term=3)).installments
        start = date(2024, 1, 15)
        assert [i.due_date for i in rows] == [start + timedelta(days=days * k) for k in (1, 2, 3)]


def test_biweekly_uses_the_nominal_rate_for_the_installment():
    terms = _terms(frequency="biweekly", first_payment_date=None, term=26)
    schedule = generate_schedule(terms)
    assert schedule.periodic_rate == Fraction(12, 100 * 26)
    # 30/360: 14 actual days are 14/360 of a year
    assert schedule.installments[0].interest == Decimal("46.67")


def test_odd_first_period_accrues_by_the_day_count():
    # given: disbursed Jan 10, first payment Feb 15: 35 days under 30/360
    terms = _terms(disbursement_date=date(2024, 1, 10))
    schedule = generate_schedule(terms)
    first = schedule.installments[0]
    assert first.fraction == Fraction(35, 360)
    assert first.interest == Decimal("116.67")  # 10000 * 0.12 * 35/360
    assert first.total == Decimal("888.49")  # the installment amount is unchanged
    assert schedule.installments[-1].balance_after == 0


def test_flat_odd_first_period_by_the_day_count_then_nominal():
    terms = _terms(interest_method="flat", disbursement_date=date(2024, 1, 10))
    rows = generate_schedule(terms).installments
    assert rows[0].interest == Decimal("116.67")
    assert {i.interest for i in rows[1:]} == {Decimal("100.00")}


def test_zero_rate_splits_principal_evenly_and_last_takes_the_remainder():
    rows = generate_schedule(_terms(annual_rate=Decimal(0), principal=Decimal("100.00"), term=3)).installments
    assert [str(i.principal) for i in rows] == ["33.33", "33.33", "33.34"]
    assert {i.interest for i in rows} == {Decimal(0)}


def test_overpaying_installments_are_capped_and_never_negative():
    # given: 0.05 over 7 installments rounds to 0.01 each, which would overpay before the last
    rows = generate_schedule(_terms(principal=Decimal("0.05"), term=7, amortization="equal_principal",
                                    annual_rate=Decimal(0))).installments
    assert [str(i.principal) for i in rows] == ["0.01"] * 5 + ["0.00", "0.00"]
    assert min(i.balance_after for i in rows) == 0


def test_fees_are_added_to_the_first_installment():
    rows = generate_schedule(_terms(fees=Decimal("25.00"))).installments
    assert (rows[0].fees, rows[0].total) == (Decimal("25.00"), Decimal("913.49"))
    assert {i.fees for i in rows[1:]} == {Decimal("0.00")}


@pytest.mark.parametrize(("places", "principal", "first_total"), [(0, "10000", "888"), (3, "10000.000", "888.488")])
def test_to_dict_formats_amounts_with_the_products_places(places, principal, first_total):
    document = generate_schedule(_terms(rounding_places=places, principal=Decimal(principal))).to_dict()
    assert document["installments"][0]["total"] == first_total
    assert document["installments"][-1]["balance_after"] == ("0" if places == 0 else "0.000")
    assert document["totals"]["principal"] == principal


def test_terms_round_trip_through_dicts():
    terms = _terms(fees=Decimal("5.00"), first_payment_date=None)
    data = json.loads(json.dumps(terms.to_dict()))
    assert data["principal"] == "10000.00" and data["rounding"] == {"mode": "half_even", "places": 2}
    assert LoanTerms.from_dict(data) == terms


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"principal": 100.0}, TypeError),
        ({"principal": Decimal("100.001")}, ValueError),
        ({"principal": Decimal(0)}, ValueError),
        ({"annual_rate": Decimal("-0.01")}, ValueError),
        ({"term": 0}, ValueError),
        ({"frequency": "daily"}, ValueError),
        ({"interest_method": "compound"}, ValueError),
        ({"amortization": "balloon"}, ValueError),
        ({"day_count": "actual/366"}, ValueError),
        ({"rounding_mode": "ceiling"}, ValueError),
        ({"first_payment_date": date(2024, 1, 15)}, ValueError),
    ],
)
def test_invalid_terms_are_rejected(overrides, error):
    with pytest.raises(error):
        _terms(**overrides)
