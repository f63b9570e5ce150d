"""Day counts and exact rounding."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from common.finance import DAY_COUNTS, ROUNDING_MODES, day_count_days, round_money, year_fraction
from finance_testkit import FAST, dates
from hypothesis import given
from hypothesis import strategies as st


@pytest.mark.parametrize(
    ("convention", "start", "end", "days"),
    [
        ("30/360", date(2024, 1, 31), date(2024, 3, 31), 60),  # D1 31->30, then D2 31->30
        ("30/360", date(2024, 1, 15), date(2024, 3, 31), 76),  # D1 not 30/31: D2 stays 31
        ("30e/360", date(2024, 1, 15), date(2024, 3, 31), 75),  # 30E: D2 31->30 always
        ("30/360", date(2024, 1, 31), date(2024, 2, 29), 29),
        ("30/360", date(2024, 2, 29), date(2024, 3, 31), 32),
        ("actual/365", date(2024, 1, 15), date(2024, 2, 15), 31),
    ],
)
def test_day_count_days(convention, start, end, days):
    assert day_count_days(convention, start, end) == days
    denominator = 365 if convention == "actual/365" else 360
    assert year_fraction(convention, start, end) == Fraction(days, denominator)


def test_actual_actual_isda_splits_at_year_end():
    assert year_fraction("actual/actual", date(2023, 12, 15), date(2024, 1, 15)) == Fraction(17, 365) + Fraction(14, 366)
    assert year_fraction("actual/actual", date(2024, 1, 1), date(2025, 1, 1)) == 1
    assert year_fraction("actual/actual", date(2023, 7, 1), date(2025, 7, 1)) == (
        Fraction(184, 365) + 1 + Fraction(181, 365)
    )


def test_unknown_convention_and_reversed_dates_are_rejected():
    with pytest.raises(ValueError, match="unknown day count"):
        year_fraction("actual/366", date(2024, 1, 1), date(2024, 2, 1))
    with pytest.raises(ValueError, match="before start"):
        year_fraction("30/360", date(2024, 2, 1), date(2024, 1, 1))
    assert year_fraction("actual/360", date(2024, 2, 1), date(2024, 2, 1)) == 0


@FAST
@given(st.sampled_from(DAY_COUNTS[2:]), dates, st.integers(0, 800), st.integers(0, 800))
def test_actual_conventions_are_additive(convention, start, a, b):
    middle, end = start + timedelta(days=a), start + timedelta(days=a + b)
    assert year_fraction(convention, start, middle) + year_fraction(convention, middle, end) == year_fraction(
        convention, start, end
    )


@FAST
@given(dates)
def test_thirty_360_month_is_exactly_one_twelfth_for_days_up_to_28(start):
    start = start.replace(day=min(start.day, 28))
    end = date(start.year + (start.month == 12), start.month % 12 + 1, start.day)
    assert year_fraction("30/360", start, end) == Fraction(1, 12)
    assert year_fraction("30e/360", start, end) == Fraction(1, 12)


@pytest.mark.parametrize(
    ("value", "places", "mode", "expected"),
    [
        (Decimal("0.125"), 2, "half_even", "0.12"),
        (Decimal("0.135"), 2, "half_even", "0.14"),
        (Decimal("0.125"), 2, "half_up", "0.13"),
        (Decimal("-0.125"), 2, "half_up", "-0.13"),
        (Decimal("-0.125"), 2, "half_even", "-0.12"),
        (Fraction(1, 3), 2, "half_even", "0.33"),
        (Fraction(2, 3), 2, "half_up", "0.67"),
        (Fraction(5, 2), 0, "half_even", "2"),
        (Fraction(5, 2), 0, "half_up", "3"),
        (0, 2, "half_even", "0.00"),
        (7, 3, "half_up", "7.000"),
        # beyond float precision: a float would lose the trailing half cent
        (Fraction(10**20 * 1000 + 5, 1000), 2, "half_up", "100000000000000000000.01"),
        (Fraction(10**20 * 1000 + 5, 1000), 2, "half_even", "100000000000000000000.00"),
        (Fraction(10**20 * 1000 + 15, 1000), 2, "half_even", "100000000000000000000.02"),
    ],
)
def test_round_money(value, places, mode, expected):
    result = round_money(value, places=places, mode=mode)
    assert str(result) == expected
    assert isinstance(result, Decimal)


def test_round_money_refuses_floats_and_unknown_modes():
    with pytest.raises(TypeError):
        round_money(0.1, places=2, mode="half_even")
    with pytest.raises(ValueError, match="rounding mode"):
        round_money(Decimal("1"), places=2, mode="down")
    with pytest.raises(ValueError, match="places"):
        round_money(Decimal("1"), places=-1, mode="half_up")


@FAST
@given(st.decimals(min_value=-10**9, max_value=10**9, places=6, allow_nan=False), st.integers(0, 4),
       st.sampled_from(ROUNDING_MODES))
def test_round_money_agrees_with_decimal_quantize(value, places, mode):
    rounding = {"half_even": ROUND_HALF_EVEN, "half_up": ROUND_HALF_UP}[mode]
    assert round_money(value, places=places, mode=mode) == value.quantize(Decimal(1).scaleb(-places), rounding)


@FAST
@given(st.fractions(min_value=-10**6, max_value=10**6, max_denominator=10**6), st.integers(0, 4))
def test_half_even_rounds_to_nearest_never_floors_or_ceils(value, places):
    # given
    scaled = value * 10**places
    floor = scaled.numerator // scaled.denominator
    # when
    units = round_money(value, places=places, mode="half_even") * 10**places
    # then: nearest of floor/ceil; an exact half goes to the even one
    assert units in (floor, floor + 1)
    distance = abs(Fraction(units) - scaled)
    assert distance <= Fraction(1, 2)
    if distance == Fraction(1, 2):
        assert units % 2 == 0
    elif scaled - floor < Fraction(1, 2):
        assert units == floor
    elif scaled - floor > Fraction(1, 2):
        assert units == floor + 1
