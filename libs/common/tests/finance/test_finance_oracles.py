"""The shared oracle cases (copied into data/), reproduced to the cent."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from common.finance import LoanTerms, accrue, generate_schedule, round_money, year_fraction
from finance_testkit import case, load

SCHEDULES = load("schedules.json")
DAY_COUNT_CASES = load("day_counts.json")


@pytest.mark.parametrize("oracle", SCHEDULES, ids=[c["case"] for c in SCHEDULES])
def test_schedule_matches_oracle_to_the_cent(oracle):
    # given
    terms = LoanTerms.from_dict(oracle["request"])
    # when
    document = generate_schedule(terms).to_dict()
    # then: every installment field and the totals, as strings
    assert document["installments"] == oracle["expected"]["installments"]
    assert document["totals"] == oracle["expected"]["totals"]
    assert document == oracle["expected"]


@pytest.mark.parametrize("oracle", SCHEDULES, ids=[c["case"] for c in SCHEDULES])
def test_schedule_explanation_is_json_and_names_the_fraction(oracle):
    schedule = generate_schedule(LoanTerms.from_dict(oracle["request"]))
    explained = json.loads(json.dumps(schedule.explain()))
    first = explained["installments"][0]
    assert first["year_fraction"] == {"fraction": "1/12", "decimal": "0.083333333333333333333"}
    assert first["interest"] == oracle["expected"]["installments"][0]["interest"]
    assert explained["rounding"]["mode"] == "half_even"


def _interest(c: dict) -> Fraction:
    fraction = year_fraction(c["day_count"], date.fromisoformat(c["from"]), date.fromisoformat(c["to"]))
    return Fraction(Decimal(c["principal"])) * Fraction(Decimal(c["annual_rate"])) * fraction


@pytest.mark.parametrize("oracle", DAY_COUNT_CASES, ids=[c["case"] for c in DAY_COUNT_CASES])
def test_day_count_interest_matches_oracle(oracle):
    # when
    exact = _interest(oracle)
    # then
    if "interest" in oracle:
        assert str(round_money(exact, places=2, mode="half_even")) == oracle["interest"]
    if "interest_unrounded" in oracle:
        assert round_money(exact, places=14, mode="half_even") == Decimal(oracle["interest_unrounded"])


@pytest.mark.parametrize(
    "oracle", [c for c in DAY_COUNT_CASES if "interest" in c], ids=lambda c: c["case"]
)
def test_accrue_posts_the_oracle_interest(oracle):
    accrual = accrue(
        balance=Decimal(oracle["principal"]), annual_rate=Decimal(oracle["annual_rate"]),
        day_count=oracle["day_count"], since=date.fromisoformat(oracle["from"]),
        through=date.fromisoformat(oracle["to"]), already_posted=Decimal("0.00"), places=2, mode="half_even",
    )
    assert str(accrual.amount) == oracle["interest"]
    assert str(accrual.cumulative) == oracle["interest"]


def test_regression_360_day_basis_never_becomes_365():
    # given: oracle H, 100000 at 1% over the leap year 2024 under 30/360
    h = case("day_counts.json", "H_whole_term_360")
    start, end = date.fromisoformat(h["from"]), date.fromisoformat(h["to"])
    # when
    fraction = year_fraction(h["day_count"], start, end)
    accrual = accrue(
        balance=Decimal(h["principal"]), annual_rate=Decimal(h["annual_rate"]), day_count=h["day_count"],
        since=start, through=end, already_posted=Decimal(0), places=2, mode="half_even",
    )
    # then: exactly one year, exactly 1000.00 (the known bug elsewhere gave 1013.89 = 365/360)
    assert fraction == 1
    assert str(accrual.amount) == h["interest"] == "1000.00"
    assert accrual.explain()["year_fraction"]["fraction"] == "1/1"
    assert accrual.explain()["day_count"]["days"] == 360


def test_regression_360_day_basis_holds_in_a_twelve_month_30_360_flat_schedule():
    # given: the oracle H loan as a 12-month flat loan under 30/360 from 2024-01-01
    h = case("day_counts.json", "H_whole_term_360")
    terms = LoanTerms(
        principal=Decimal(h["principal"]), annual_rate=Decimal(h["annual_rate"]), term=12, frequency="monthly",
        interest_method="declining_balance", amortization="equal_principal", day_count="30/360",
        rounding_mode="half_even", rounding_places=2, disbursement_date=date.fromisoformat(h["from"]),
    )
    schedule = generate_schedule(terms)
    # then: every period of 2024 (a leap year) is 1/12 of a 360-day year
    assert [i.fraction for i in schedule.installments] == [Fraction(1, 12)] * 12
    assert schedule.installments[0].interest == Decimal("83.33")  # 100000 * 0.01 / 12
