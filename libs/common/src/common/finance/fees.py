"""Fees: origination at disbursement; late fees once per missed installment after the grace days."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

from common.finance._util import check_places, fmt_money, to_decimal
from common.finance.delinquency import unpaid_installments
from common.finance.rounding import ROUNDING_RULES, round_money

FLAT = "flat"
PERCENT = "percent"
FEE_TYPES: tuple[str, ...] = (FLAT, PERCENT)
LATE_FEE_RULE = (
    "an installment not fully paid more than grace_days after its due date ((as_of - due_date).days > "
    "grace_days) is charged `fee` once; installments in already_assessed are skipped; a zero fee is never charged"
)


@dataclass(frozen=True)
class FeeAmount:
    amount: Decimal
    rule: str
    inputs: dict[str, Any]
    places: int
    mode: str

    def explain(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "inputs": self.inputs,
            "rounding": {"mode": self.mode, "places": self.places, "rule": ROUNDING_RULES[self.mode]},
            "amount": fmt_money(self.amount, self.places),
        }


def origination_fee(
    *,
    principal: Decimal,
    fee_type: str,
    value: Decimal,
    places: int,
    mode: str,
    minimum: Decimal | None = None,
    maximum: Decimal | None = None,
) -> FeeAmount:
    """flat: round(value); percent: round(principal * value / 100) - `value` is in percent points, "1.5"
    is 1.5% of principal. Optional floor and cap: max(minimum, min(calculated, maximum))."""
    check_places(places)
    principal = to_decimal(principal, name="principal")
    value = to_decimal(value, name="value")
    if value < 0:
        raise ValueError("fee value must be >= 0")
    if fee_type == FLAT:
        exact, rule = Fraction(value), "flat: round(value)"
    elif fee_type == PERCENT:
        exact, rule = Fraction(principal) * Fraction(value) / 100, "percent: round(principal * value / 100)"
    else:
        raise ValueError(f"unknown fee type {fee_type!r}; expected one of {', '.join(FEE_TYPES)}")
    amount = round_money(exact, places=places, mode=mode)
    if maximum is not None and amount > to_decimal(maximum, name="maximum"):
        amount, rule = round_money(to_decimal(maximum, name="maximum"), places=places, mode=mode), rule + ", capped"
    if minimum is not None and amount < to_decimal(minimum, name="minimum"):
        amount, rule = round_money(to_decimal(minimum, name="minimum"), places=places, mode=mode), rule + ", floored"
    return FeeAmount(
        amount=amount,
        rule=rule,
        inputs={
            "principal": str(principal), "fee_type": fee_type, "value": str(value),
            "minimum": None if minimum is None else str(minimum),
            "maximum": None if maximum is None else str(maximum),
        },
        places=places,
        mode=mode,
    )


def late_fees_due(
    *,
    installments: Iterable[Any],
    as_of: date,
    grace_days: int,
    fee: Decimal,
    already_assessed: set[int] | frozenset[int],
    amount_paid_toward_schedule: Decimal | None = None,
    paid_by_installment: Mapping[int, Decimal] | None = None,
) -> list[tuple[int, Decimal]]:
    """[(installment number, fee)] to assess as of `as_of`: see LATE_FEE_RULE. Pass either the cumulative
    amount paid toward the schedule (oldest installment first) or the amount paid per installment."""
    fee = to_decimal(fee, name="fee")
    if fee < 0 or grace_days < 0:
        raise ValueError("fee and grace_days must be >= 0")
    if fee == 0:
        return []
    return [
        (row.number, fee)
        for row in unpaid_installments(
            installments, amount_paid_toward_schedule=amount_paid_toward_schedule,
            paid_by_installment=paid_by_installment,
        )
        if (as_of - row.due_date).days > grace_days and row.number not in already_assessed
    ]
