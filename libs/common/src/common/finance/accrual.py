"""Daily interest accrual.

The one formula (the ledger may recompute it set-based in SQL):

    cumulative(day) = round_money(balance * annual_rate * year_fraction(day_count, since, day))
    posted amount   = cumulative(through) - already_posted

`since` is the date of the last balance change (the interest clock start); `already_posted` is what was
posted for the same clock since then. Because each posting is the difference of rounded cumulatives, the
postings of a period paid on its due date sum to exactly that period's scheduled interest.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from common.finance._util import check_places, explain_fraction, fmt_money, fraction_decimal_str, to_decimal
from common.finance.daycount import DAY_COUNT_RULES, day_count_days, year_fraction
from common.finance.rounding import ROUNDING_RULES, check_rounding_mode, round_money

ACCRUAL_RULE = (
    "cumulative = round(balance * annual_rate * year_fraction(since, through)); "
    "amount = cumulative - already_posted"
)


@dataclass(frozen=True)
class Accrual:
    amount: Decimal
    cumulative: Decimal
    fraction: Fraction
    balance: Decimal
    annual_rate: Decimal
    day_count: str
    since: date
    through: date
    already_posted: Decimal
    places: int
    mode: str

    @property
    def cumulative_exact(self) -> Fraction:
        return Fraction(self.balance) * Fraction(self.annual_rate) * self.fraction

    def explain(self) -> dict[str, Any]:
        return {
            "rule": ACCRUAL_RULE,
            "inputs": {
                "balance": fmt_money(self.balance, self.places),
                "annual_rate": str(self.annual_rate),
                "day_count": self.day_count,
                "since": self.since.isoformat(),
                "through": self.through.isoformat(),
                "already_posted": fmt_money(self.already_posted, self.places),
            },
            "rate": str(self.annual_rate),
            "day_count": {
                "convention": self.day_count,
                "rule": DAY_COUNT_RULES[self.day_count],
                "days": day_count_days(self.day_count, self.since, self.through),
            },
            "year_fraction": explain_fraction(self.fraction),
            "cumulative_unrounded": fraction_decimal_str(self.cumulative_exact, 28),
            "rounding": {"mode": self.mode, "places": self.places, "rule": ROUNDING_RULES[self.mode],
                         "step": "the cumulative interest since `since` is rounded; the posting is the difference"},
            "cumulative": fmt_money(self.cumulative, self.places),
            "amount": fmt_money(self.amount, self.places),
        }


def accrue(
    *,
    balance: Decimal,
    annual_rate: Decimal,
    day_count: str,
    since: date,
    through: date,
    already_posted: Decimal,
    places: int,
    mode: str,
) -> Accrual:
    """Interest to post for [since, through): round(balance*rate*yf(since, through)) - already_posted.

    The amount is negative when `already_posted` exceeds the cumulative (e.g. a back-dated balance change):
    the caller reverses that much."""
    check_places(places)
    check_rounding_mode(mode)
    balance = to_decimal(balance, name="balance")
    annual_rate = to_decimal(annual_rate, name="annual_rate")
    already_posted = to_decimal(already_posted, name="already_posted")
    fraction = year_fraction(day_count, since, through)
    cumulative = round_money(Fraction(balance) * Fraction(annual_rate) * fraction, places=places, mode=mode)
    return Accrual(
        amount=cumulative - already_posted,
        cumulative=cumulative,
        fraction=fraction,
        balance=balance,
        annual_rate=annual_rate,
        day_count=day_count,
        since=since,
        through=through,
        already_posted=already_posted,
        places=places,
        mode=mode,
    )


def iter_daily_accruals(
    *,
    balance: Decimal,
    annual_rate: Decimal,
    day_count: str,
    since: date,
    through: date,
    places: int,
    mode: str,
    accrued_through: date | None = None,
    already_posted: Decimal = Decimal(0),
) -> Iterator[Accrual]:
    """One Accrual per day d in (accrued_through, through], each with through=d: the posting for the day
    ending on d. `accrued_through` defaults to `since` (nothing posted yet); `already_posted` is what was
    posted on this clock up to `accrued_through`."""
    start = since if accrued_through is None else accrued_through
    if start < since:
        raise ValueError("accrued_through is before since")
    posted = to_decimal(already_posted, name="already_posted")
    day = start + timedelta(days=1)
    while day <= through:
        accrual = accrue(
            balance=balance, annual_rate=annual_rate, day_count=day_count, since=since, through=day,
            already_posted=posted, places=places, mode=mode,
        )
        posted = accrual.cumulative
        yield accrual
        day += timedelta(days=1)


def daily_accruals(
    *,
    balance: Decimal,
    annual_rate: Decimal,
    day_count: str,
    since: date,
    through: date,
    places: int,
    mode: str,
    accrued_through: date | None = None,
    already_posted: Decimal = Decimal(0),
) -> list[Accrual]:
    """The per-day postings as a list (see `iter_daily_accruals`). Their amounts sum to
    round(balance*rate*yf(since, through)) - already_posted."""
    return list(
        iter_daily_accruals(
            balance=balance, annual_rate=annual_rate, day_count=day_count, since=since, through=through,
            places=places, mode=mode, accrued_through=accrued_through, already_posted=already_posted,
        )
    )
