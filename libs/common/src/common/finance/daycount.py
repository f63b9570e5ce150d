"""Day-count conventions: the exact fraction of a year between two dates.

Every result is a `fractions.Fraction`, so a 30/360 month is exactly 1/12 and a
360-day basis can never be turned into 365 by a float on the way.
"""

from __future__ import annotations

from datetime import date
from fractions import Fraction

THIRTY_360 = "30/360"
THIRTY_E_360 = "30e/360"
ACTUAL_365 = "actual/365"
ACTUAL_360 = "actual/360"
ACTUAL_ACTUAL = "actual/actual"

DAY_COUNTS: tuple[str, ...] = (THIRTY_360, THIRTY_E_360, ACTUAL_365, ACTUAL_360, ACTUAL_ACTUAL)

DAY_COUNT_RULES: dict[str, str] = {
    THIRTY_360: "30/360 US bond basis: D1=31 -> 30; D2=31 -> 30 when D1 is 30 or 31; "
    "days = 360*(Y2-Y1) + 30*(M2-M1) + (D2-D1); fraction = days/360",
    THIRTY_E_360: "30E/360: D1=31 -> 30 and D2=31 -> 30; days = 360*(Y2-Y1) + 30*(M2-M1) + (D2-D1); "
    "fraction = days/360",
    ACTUAL_365: "Actual/365 Fixed: actual days / 365",
    ACTUAL_360: "Actual/360: actual days / 360",
    ACTUAL_ACTUAL: "Actual/Actual ISDA: days falling in leap years / 366 + days in other years / 365",
}


def check_day_count(convention: str) -> str:
    if convention not in DAY_COUNTS:
        raise ValueError(f"unknown day count {convention!r}; expected one of {', '.join(DAY_COUNTS)}")
    return convention


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _thirty_days(start: date, end: date, *, european: bool) -> int:
    d1, d2 = start.day, end.day
    if d1 == 31:
        d1 = 30
    if d2 == 31 and (european or d1 == 30):
        d2 = 30
    return 360 * (end.year - start.year) + 30 * (end.month - start.month) + (d2 - d1)


def _actual_actual_isda(start: date, end: date) -> Fraction:
    if start.year == end.year:
        return Fraction((end - start).days, 366 if _is_leap(start.year) else 365)
    total = Fraction(0)
    cursor = start
    while cursor < end:
        next_year = date(cursor.year + 1, 1, 1)
        stop = min(end, next_year)
        total += Fraction((stop - cursor).days, 366 if _is_leap(cursor.year) else 365)
        cursor = stop
    return total


def day_count_days(convention: str, start: date, end: date) -> int:
    """The day count's numerator: 30/360-style days or actual days (for explanations and SQL)."""
    check_day_count(convention)
    if convention == THIRTY_360:
        return _thirty_days(start, end, european=False)
    if convention == THIRTY_E_360:
        return _thirty_days(start, end, european=True)
    return (end - start).days


def year_fraction(convention: str, start: date, end: date) -> Fraction:
    """Exact year fraction of [start, end) under `convention`. end before start is a ValueError."""
    check_day_count(convention)
    if end < start:
        raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
    if convention == THIRTY_360:
        return Fraction(_thirty_days(start, end, european=False), 360)
    if convention == THIRTY_E_360:
        return Fraction(_thirty_days(start, end, european=True), 360)
    if convention == ACTUAL_365:
        return Fraction((end - start).days, 365)
    if convention == ACTUAL_360:
        return Fraction((end - start).days, 360)
    return _actual_actual_isda(start, end)
