"""Flat-interest accrual: each period's scheduled interest is earned evenly over the period's days.

A flat loan's interest is fixed at origination (``generate_schedule``: round(P × rate / periods per year)
per period, on the original principal); paying principal early does not reduce it. Accruing such a loan
with the declining-balance formula (``accrue``) under-accrues from the second period on and the loan's
payments then repay principal faster than its schedule. The flat rule, on the same cumulative-rounded
clock as ``accrue``:

    cumulative(d) = Σ interest of the periods due on or before d
                    + round(interest_k × days elapsed in period k / days in period k)   (k: the period running on d)
    posted amount = cumulative(through) - already_posted

Periods run from the previous due date (the disbursement date for the first) to the due date, counted in
calendar days, so the postings of a period add up to exactly its scheduled interest on its due date, and
nothing accrues after the last due date (the schedule's total interest is the most a flat loan earns).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

from common.finance._util import check_places, fmt_money, to_decimal
from common.finance.rounding import ROUNDING_RULES, check_rounding_mode, round_money

FLAT_ACCRUAL_RULE = (
    "cumulative = interest of the periods due on or before through + round(interest of the running period * "
    "days elapsed in it / its days); amount = cumulative - already_posted"
)


@dataclass(frozen=True)
class FlatPeriod:
    start: date
    due: date
    interest: Decimal


@dataclass(frozen=True)
class FlatAccrual:
    amount: Decimal
    cumulative: Decimal
    since: date
    through: date
    already_posted: Decimal
    period: FlatPeriod | None       # the period running on ``through`` (None: before the first, after the last)
    elapsed_days: int
    places: int
    mode: str

    def explain(self) -> dict[str, Any]:
        period = None
        if self.period is not None:
            period = {"start": self.period.start.isoformat(), "due": self.period.due.isoformat(),
                      "interest": fmt_money(self.period.interest, self.places),
                      "days": (self.period.due - self.period.start).days, "elapsed_days": self.elapsed_days}
        return {
            "rule": FLAT_ACCRUAL_RULE,
            "inputs": {"since": self.since.isoformat(), "through": self.through.isoformat(),
                       "already_posted": fmt_money(self.already_posted, self.places)},
            "running_period": period,
            "rounding": {"mode": self.mode, "places": self.places, "rule": ROUNDING_RULES[self.mode],
                         "step": "the running period's earned part is rounded; the posting is the difference"},
            "cumulative": fmt_money(self.cumulative, self.places),
            "amount": fmt_money(self.amount, self.places),
        }


@dataclass(frozen=True)
class FlatInterest:
    """A flat loan's interest clock, built once from its schedule (``from_schedule``)."""

    periods: tuple[FlatPeriod, ...]
    places: int
    mode: str

    def __post_init__(self) -> None:
        check_places(self.places)
        check_rounding_mode(self.mode)
        for before, after in zip(self.periods, self.periods[1:], strict=False):
            if after.start != before.due:
                raise ValueError("flat periods must be contiguous")
        for period in self.periods:
            if period.due <= period.start or period.interest < 0:
                raise ValueError("a flat period needs due > start and interest >= 0")
        running, totals = Decimal(0), [Decimal(0)]
        for period in self.periods:
            running += period.interest
            totals.append(running)
        object.__setattr__(self, "_dues", [p.due for p in self.periods])
        object.__setattr__(self, "_totals", totals)

    @classmethod
    def from_schedule(cls, schedule: dict[str, Any], *, disbursement_date: date | str, places: int,
                      mode: str) -> FlatInterest:
        """From the API schedule document (``Schedule.to_dict()``): installment k's period starts on the due
        date before it, the first one's on the disbursement date."""
        start = disbursement_date if isinstance(disbursement_date, date) else date.fromisoformat(disbursement_date)
        periods = []
        for row in sorted(schedule["installments"], key=lambda r: int(r["number"])):
            due = date.fromisoformat(row["due_date"]) if isinstance(row["due_date"], str) else row["due_date"]
            periods.append(FlatPeriod(start=start, due=due, interest=to_decimal(row["interest"], name="interest")))
            start = due
        return cls(periods=tuple(periods), places=places, mode=mode)

    @property
    def total(self) -> Decimal:
        return self._totals[-1]

    def _running(self, through: date) -> tuple[Decimal, FlatPeriod | None, int]:
        done = bisect.bisect_right(self._dues, through)       # periods due on or before `through`
        if done == len(self.periods):
            return self._totals[done], None, 0
        period = self.periods[done]
        elapsed = (through - period.start).days
        if elapsed <= 0:
            return self._totals[done], None, 0
        earned = round_money(Fraction(period.interest) * Fraction(elapsed, (period.due - period.start).days),
                             places=self.places, mode=self.mode)
        return self._totals[done] + earned, period, elapsed

    def cumulative(self, through: date) -> Decimal:
        """Interest earned from disbursement through the end of day ``through``."""
        return self._running(through)[0]

    def accrue(self, *, through: date, already_posted: Decimal) -> FlatAccrual:
        """What to post through ``through`` when ``already_posted`` was posted on this clock so far."""
        already_posted = to_decimal(already_posted, name="already_posted")
        cumulative, period, elapsed = self._running(through)
        since = self.periods[0].start if self.periods else through
        return FlatAccrual(amount=cumulative - already_posted, cumulative=cumulative, since=since, through=through,
                           already_posted=already_posted, period=period, elapsed_days=elapsed,
                           places=self.places, mode=self.mode)
