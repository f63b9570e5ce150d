"""Rounding money exactly: from a Decimal, Fraction or int, never through a float."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from common.finance._util import check_places, to_fraction

HALF_EVEN = "half_even"
HALF_UP = "half_up"
ROUNDING_MODES: tuple[str, ...] = (HALF_EVEN, HALF_UP)

ROUNDING_RULES: dict[str, str] = {
    HALF_EVEN: "round to nearest; an exact half goes to the even last digit (banker's rounding)",
    HALF_UP: "round to nearest; an exact half goes away from zero",
}


def check_rounding_mode(mode: str) -> str:
    if mode not in ROUNDING_MODES:
        raise ValueError(f"unknown rounding mode {mode!r}; expected one of {', '.join(ROUNDING_MODES)}")
    return mode


def _round_ratio(numerator: int, denominator: int, mode: str) -> int:
    """numerator/denominator (denominator > 0) rounded to an integer with `mode`, in integer arithmetic."""
    floor, rest = divmod(numerator, denominator)  # 0 <= rest < denominator
    twice = 2 * rest
    if twice > denominator:
        return floor + 1
    if twice < denominator:
        return floor
    # an exact half
    if mode == HALF_EVEN:
        return floor if floor % 2 == 0 else floor + 1
    return floor + 1 if numerator > 0 else floor  # away from zero


def round_units(value: Fraction, *, mode: str) -> int:
    """Round an exact value to an integer with `mode`."""
    return _round_ratio(value.numerator, value.denominator, mode)


def round_money(value: Decimal | Fraction | int, *, places: int, mode: str) -> Decimal:
    """`value` rounded to `places` decimals with `mode`; the result always has exactly `places` decimals."""
    check_places(places)
    check_rounding_mode(mode)
    exact = to_fraction(value)
    units = _round_ratio(exact.numerator * 10**places, exact.denominator, mode)
    return Decimal(f"{units}e-{places}") if places else Decimal(units)
