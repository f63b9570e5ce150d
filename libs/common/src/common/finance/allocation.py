"""Payment waterfall: a payment pays the buckets owed in the product's order; the rest is overpayment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from common.finance._util import check_places, fmt_money, has_places, to_decimal

BUCKETS: tuple[str, ...] = ("fees", "interest", "principal")
DEFAULT_ORDER: tuple[str, ...] = BUCKETS
ALLOCATION_RULE = "each bucket in order takes min(remaining payment, owed); what remains is overpayment"


@dataclass(frozen=True)
class AllocationStep:
    bucket: str
    rule: str
    owed_before: Decimal
    applied: Decimal
    owed_after: Decimal
    remaining_after: Decimal

    def to_dict(self, places: int) -> dict[str, str]:
        return {
            "bucket": self.bucket,
            "rule": self.rule,
            "owed_before": fmt_money(self.owed_before, places),
            "applied": fmt_money(self.applied, places),
            "owed_after": fmt_money(self.owed_after, places),
            "remaining_after": fmt_money(self.remaining_after, places),
        }


@dataclass(frozen=True)
class Allocation:
    fees: Decimal
    interest: Decimal
    principal: Decimal
    overpayment: Decimal
    trace: tuple[AllocationStep, ...]
    amount: Decimal
    order: tuple[str, ...]
    places: int

    def to_dict(self) -> dict[str, str]:
        """The API payment `allocation` object."""
        return {
            "fees": fmt_money(self.fees, self.places),
            "interest": fmt_money(self.interest, self.places),
            "principal": fmt_money(self.principal, self.places),
            "overpayment": fmt_money(self.overpayment, self.places),
        }

    def explain(self) -> dict[str, Any]:
        return {
            "rule": ALLOCATION_RULE,
            "inputs": {
                "amount": fmt_money(self.amount, self.places),
                "owed": {step.bucket: fmt_money(step.owed_before, self.places) for step in self.trace},
                "order": list(self.order),
                "places": self.places,
            },
            "rounding": {"step": "none: amounts are already in minor units and are only compared and subtracted"},
            "trace": [step.to_dict(self.places) for step in self.trace],
            "result": self.to_dict(),
        }


def check_order(order: Sequence[str]) -> tuple[str, ...]:
    result = tuple(order)
    if sorted(result) != sorted(BUCKETS):
        raise ValueError(f"allocation order must be a permutation of {list(BUCKETS)}, got {list(result)}")
    return result


def _money(value: Decimal, *, name: str, places: int) -> Decimal:
    value = to_decimal(value, name=name)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    if not has_places(value, places):
        raise ValueError(f"{name} has more than {places} decimals: {value}")
    return value.quantize(Decimal(1).scaleb(-places))


def allocate(*, amount: Decimal, owed: Mapping[str, Decimal], order: Sequence[str], places: int) -> Allocation:
    check_places(places)
    order = check_order(order)
    unknown = set(owed) - set(BUCKETS)
    if unknown:
        raise ValueError(f"unknown owed buckets {sorted(unknown)}; expected {list(BUCKETS)}")
    remaining = _money(amount, name="amount", places=places)
    paid = remaining
    applied: dict[str, Decimal] = {}
    trace: list[AllocationStep] = []
    for bucket in order:
        owed_before = _money(owed.get(bucket, Decimal(0)), name=f"owed[{bucket}]", places=places)
        take = min(remaining, owed_before)
        remaining -= take
        applied[bucket] = take
        trace.append(
            AllocationStep(
                bucket=bucket,
                rule="min(remaining payment, owed)",
                owed_before=owed_before,
                applied=take,
                owed_after=owed_before - take,
                remaining_after=remaining,
            )
        )
    return Allocation(
        fees=applied["fees"],
        interest=applied["interest"],
        principal=applied["principal"],
        overpayment=remaining,
        trace=tuple(trace),
        amount=paid,
        order=order,
        places=places,
    )
