"""Days past due and delinquency buckets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from common.finance._util import to_decimal

BUCKETS: tuple[str, ...] = ("current", "dpd_1_29", "dpd_30_59", "dpd_60_89", "dpd_90_119", "dpd_120_plus")
DPD_RULE = (
    "days past due = as_of - due date of the oldest installment that is due (due_date <= as_of) and not fully "
    "paid; payments toward the schedule pay installments oldest first; 0 when none is unpaid"
)


@dataclass(frozen=True)
class DueRow:
    number: int
    due_date: date
    total: Decimal


def _get(row: Any, name: str) -> Any:
    return row[name] if isinstance(row, Mapping) else getattr(row, name)


def due_rows(installments: Iterable[Any]) -> list[DueRow]:
    """Installments as (number, due_date, total), oldest first. Accepts `Installment` objects, objects with
    the same attributes (e.g. model rows) or the API dicts (ISO dates, decimal strings)."""
    rows = []
    for inst in installments:
        due = _get(inst, "due_date")
        rows.append(
            DueRow(
                number=int(_get(inst, "number")),
                due_date=date.fromisoformat(due) if isinstance(due, str) else due,
                total=to_decimal(_get(inst, "total"), name="installment total"),
            )
        )
    return sorted(rows, key=lambda r: (r.due_date, r.number))


def unpaid_installments(
    installments: Iterable[Any],
    *,
    amount_paid_toward_schedule: Decimal | None = None,
    paid_by_installment: Mapping[int, Decimal] | None = None,
) -> list[DueRow]:
    """Installments not fully paid, oldest first. Give either the cumulative amount paid toward the schedule
    (applied oldest installment first) or what was paid per installment number."""
    if (amount_paid_toward_schedule is None) == (paid_by_installment is None):
        raise ValueError("give exactly one of amount_paid_toward_schedule or paid_by_installment")
    rows = due_rows(installments)
    if paid_by_installment is not None:
        return [r for r in rows if to_decimal(paid_by_installment.get(r.number, Decimal(0)), name="paid") < r.total]
    remaining = to_decimal(amount_paid_toward_schedule, name="amount_paid_toward_schedule")
    unpaid = []
    for row in rows:
        if remaining >= row.total:
            remaining -= row.total
        else:
            remaining = Decimal(0)
            unpaid.append(row)
    return unpaid


def days_past_due(
    *,
    installments: Iterable[Any],
    amount_paid_toward_schedule: Decimal | None = None,
    as_of: date,
    paid_by_installment: Mapping[int, Decimal] | None = None,
) -> int:
    """Days since the oldest unpaid due installment's due date (0 on the due date itself and when current)."""
    for row in unpaid_installments(
        installments, amount_paid_toward_schedule=amount_paid_toward_schedule, paid_by_installment=paid_by_installment
    ):
        if row.due_date <= as_of:
            return (as_of - row.due_date).days
        break
    return 0


def delinquency_bucket(dpd: int) -> str:
    if isinstance(dpd, bool) or not isinstance(dpd, int) or dpd < 0:
        raise ValueError(f"days past due must be a non-negative int, got {dpd!r}")
    if dpd == 0:
        return "current"
    if dpd < 30:
        return "dpd_1_29"
    if dpd < 60:
        return "dpd_30_59"
    if dpd < 90:
        return "dpd_60_89"
    if dpd < 120:
        return "dpd_90_119"
    return "dpd_120_plus"
