"""Model → API document (API.md shapes). Amounts as strings: the loan's principal with the currency's
minor units; engine amounts (schedule, balances, payoff) with the product's rounding places."""

from __future__ import annotations

from decimal import Decimal

from common.money import format_amount

from loans.models import Loan, Product, ScheduleInstallment


def rate_str(rate: Decimal) -> str:
    return format(rate.normalize(), "f")


def product_out(p: Product) -> dict:
    places = p.rounding_places
    fee_value = (format_amount(p.origination_fee_value, places) if p.origination_fee_type == "flat"
                 else format(p.origination_fee_value.normalize(), "f"))
    return {
        "id": p.id, "name": p.name, "currency": p.currency, "annual_rate": rate_str(p.annual_rate),
        "term_min": p.term_min, "term_max": p.term_max, "frequency": p.frequency,
        "interest_method": p.interest_method, "amortization": p.amortization, "day_count": p.day_count,
        "rounding": {"mode": p.rounding_mode, "places": places},
        "origination_fee": {"type": p.origination_fee_type, "value": fee_value},
        "late_fee": {"amount": format_amount(p.late_fee_amount, places), "grace_days": p.grace_days},
        "default_after_days": p.default_after_days, "allocation_order": list(p.allocation_order),
        "nsf_fee": format_amount(p.nsf_fee, places), "four_eyes": p.four_eyes,
        "non_accrual_after_days": p.non_accrual_after_days,
        "arrears_tolerance": format_amount(p.arrears_tolerance, places),
        "created_at": p.created_at, "updated_at": p.updated_at,
    }


def loan_out(loan: Loan, *, schedule: dict | None = None) -> dict:
    places = loan.product.rounding_places
    doc = {
        "id": loan.id, "borrower_id": loan.borrower_id, "product_id": loan.product_id, "status": loan.status,
        "principal": format_amount(loan.principal, loan.currency), "currency": loan.currency, "term": loan.term,
        "annual_rate": rate_str(loan.annual_rate), "disbursement_date": loan.disbursement_date,
        "first_payment_date": loan.first_payment_date,
        "balances": {
            "principal": format_amount(loan.balance_principal, places),
            "interest": format_amount(loan.balance_interest, places),
            "fees": format_amount(loan.balance_fees, places),
            "total": format_amount(loan.balance_total, places),
        },
        "days_past_due": loan.days_past_due, "delinquency_bucket": loan.delinquency_bucket,
        "origination_fee": format_amount(loan.origination_fee, places), "created_by": loan.created_by,
        "approved_by": loan.approved_by or None, "approved_at": loan.approved_at,
        "denial_reason": loan.denial_reason or None, "created_at": loan.created_at, "updated_at": loan.updated_at,
    }
    if schedule is not None:
        doc["schedule"] = schedule
    return doc


def schedule_out(rows: list[ScheduleInstallment], places: int) -> dict:
    """The stored schedule rows as the API schedule document (equal to Schedule.to_dict())."""
    zero = Decimal(0)
    totals = {k: sum((getattr(r, k) for r in rows), zero) for k in ("principal", "interest", "fees", "total")}
    return {
        "installments": [
            {"number": r.number, "due_date": r.due_date.isoformat(), "principal": format_amount(r.principal, places),
             "interest": format_amount(r.interest, places), "fees": format_amount(r.fees, places),
             "total": format_amount(r.total, places), "balance_after": format_amount(r.balance_after, places)}
            for r in rows
        ],
        "totals": {k: format_amount(v, places) for k, v in totals.items()},
    }
