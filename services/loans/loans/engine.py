"""The bridge between products/loans and the pure finance engine (common.finance).

Schedule preview and disbursement both build their terms here, so a preview equals what is posted.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from common.finance import LoanTerms, Schedule, generate_schedule, origination_fee

from loans.models import Product


def origination_fee_for(product: Product, principal: Decimal) -> Decimal:
    return origination_fee(principal=principal, fee_type=product.origination_fee_type,
                           value=product.origination_fee_value, places=product.rounding_places,
                           mode=product.rounding_mode).amount


def terms_for(product: Product, *, principal: Decimal, term: int, disbursement_date: date,
              first_payment_date: date | None) -> LoanTerms:
    """The product's terms for one loan; the origination fee is due with installment 1.
    Raises ValueError when the engine refuses the combination (e.g. first payment not after disbursement)."""
    return LoanTerms(
        principal=principal,
        annual_rate=product.annual_rate.normalize(),
        term=term,
        frequency=product.frequency,
        interest_method=product.interest_method,
        amortization=product.amortization,
        day_count=product.day_count,
        rounding_mode=product.rounding_mode,
        rounding_places=product.rounding_places,
        disbursement_date=disbursement_date,
        first_payment_date=first_payment_date,
        fees=origination_fee_for(product, principal),
    )


def schedule_for(terms: LoanTerms) -> Schedule:
    return generate_schedule(terms)
