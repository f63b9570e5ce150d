"""Payoff quotes: what pays the loan off exactly on a date, consistent with `accrue`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from common.finance._util import fmt_money, to_decimal
from common.finance.accrual import Accrual, accrue
from common.finance.flat import FlatAccrual, FlatInterest

PAYOFF_RULE = (
    "interest = interest_accrued + (round(principal * annual_rate * year_fraction(since, as_of)) "
    "- interest_posted_since); total = principal + interest + fees"
)
FLAT_PAYOFF_RULE = (
    "interest = interest_accrued + (flat cumulative(as_of) - interest_posted_since); "
    "total = principal + interest + fees"
)


@dataclass(frozen=True)
class PayoffQuote:
    as_of: date
    principal: Decimal
    interest: Decimal
    fees: Decimal
    total: Decimal
    interest_accrued: Decimal
    accrual: Accrual | FlatAccrual
    places: int

    def to_dict(self) -> dict[str, str]:
        """The API payoff-quote document."""
        return {
            "as_of": self.as_of.isoformat(),
            "principal": fmt_money(self.principal, self.places),
            "interest": fmt_money(self.interest, self.places),
            "fees": fmt_money(self.fees, self.places),
            "total": fmt_money(self.total, self.places),
        }

    def explain(self) -> dict[str, Any]:
        return {
            "rule": FLAT_PAYOFF_RULE if isinstance(self.accrual, FlatAccrual) else PAYOFF_RULE,
            "inputs": {
                "as_of": self.as_of.isoformat(),
                "principal": fmt_money(self.principal, self.places),
                "interest_accrued": fmt_money(self.interest_accrued, self.places),
                "fees": fmt_money(self.fees, self.places),
            },
            "accrual_to_as_of": self.accrual.explain(),
            "result": self.to_dict(),
        }


def payoff_quote(
    *,
    as_of: date,
    principal: Decimal,
    interest_accrued: Decimal,
    fees: Decimal,
    annual_rate: Decimal,
    day_count: str,
    since: date,
    interest_posted_since: Decimal,
    places: int,
    mode: str,
    flat: FlatInterest | None = None,
) -> PayoffQuote:
    """`interest_accrued`: the unpaid accrued-interest balance as posted so far; `since`: the last balance
    change (the accrual clock start); `interest_posted_since`: the accruals posted on that clock. The quote
    adds what `accrue` would post through `as_of` (negative if more was posted than accrues by as_of).
    A flat-interest loan passes its clock (`flat`): the quote adds what it earns through `as_of` instead
    (the interest of the running period earned so far; the unearned rest of the schedule is not charged)."""
    principal = to_decimal(principal, name="principal")
    interest_accrued = to_decimal(interest_accrued, name="interest_accrued")
    fees = to_decimal(fees, name="fees")
    if flat is not None:
        accrual = flat.accrue(through=as_of, already_posted=interest_posted_since)
    else:
        accrual = accrue(
            balance=principal, annual_rate=annual_rate, day_count=day_count, since=since, through=as_of,
            already_posted=interest_posted_since, places=places, mode=mode,
        )
    interest = interest_accrued + accrual.amount
    return PayoffQuote(
        as_of=as_of,
        principal=principal,
        interest=interest,
        fees=fees,
        total=principal + interest + fees,
        interest_accrued=interest_accrued,
        accrual=accrual,
        places=places,
    )
