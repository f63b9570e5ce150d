"""Due-date arithmetic for payment frequencies."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

MONTHLY = "monthly"
BIWEEKLY = "biweekly"
WEEKLY = "weekly"
FREQUENCIES: tuple[str, ...] = (MONTHLY, BIWEEKLY, WEEKLY)
PERIODS_PER_YEAR: dict[str, int] = {MONTHLY: 12, BIWEEKLY: 26, WEEKLY: 52}
_DAYS_PER_PERIOD: dict[str, int] = {BIWEEKLY: 14, WEEKLY: 7}


def check_frequency(frequency: str) -> str:
    if frequency not in FREQUENCIES:
        raise ValueError(f"unknown frequency {frequency!r}; expected one of {', '.join(FREQUENCIES)}")
    return frequency


def add_months(start: date, months: int, *, day: int | None = None) -> date:
    """`start` moved by `months`, on `day` (default: start's day) clamped to the month's last day."""
    month_index = start.year * 12 + (start.month - 1) + months
    year, month = divmod(month_index, 12)
    month += 1
    wanted = start.day if day is None else day
    return date(year, month, min(wanted, calendar.monthrange(year, month)[1]))


def add_periods(start: date, frequency: str, periods: int, *, day: int | None = None) -> date:
    """`start` moved by `periods` payment periods; monthly keeps `day` (clamped to month end)."""
    check_frequency(frequency)
    if frequency == MONTHLY:
        return add_months(start, periods, day=day)
    return start + timedelta(days=_DAYS_PER_PERIOD[frequency] * periods)


def due_dates(first_payment_date: date, frequency: str, count: int) -> list[date]:
    """The `count` due dates: monthly on the first payment's day of month (clamped), else every 7/14 days."""
    anchor_day = first_payment_date.day
    return [add_periods(first_payment_date, frequency, k, day=anchor_day) for k in range(count)]
