"""Shared data loading and hypothesis strategies for the finance tests."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from common.finance import DAY_COUNTS, LoanTerms
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

DATA = Path(__file__).parent / "data"

# Modest budget: the whole finance suite must stay well under 30 s.
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def load(name: str) -> list[dict]:
    return json.loads((DATA / name).read_text())


def case(name: str, case_id: str) -> dict:
    return next(c for c in load(name) if c["case"] == case_id)


def money(places: int, low: int, high: int) -> st.SearchStrategy[Decimal]:
    """Amounts between low and high whole units, with exactly `places` decimals."""
    return st.integers(low * 10**places, high * 10**places).map(lambda u: Decimal(u).scaleb(-places))


rates = st.integers(0, 360_000).map(lambda u: Decimal(u).scaleb(-6))  # 0 .. 0.36 with 6 decimals
dates = st.dates(min_value=date(2019, 1, 1), max_value=date(2031, 12, 31))


@st.composite
def loan_terms(
    draw,
    *,
    max_term: int = 120,
    interest_methods=("declining_balance", "flat"),
    amortizations=("equal_installments", "equal_principal"),
    day_counts=DAY_COUNTS,
    frequencies=("monthly", "biweekly", "weekly"),
    odd_first: bool = True,
    places_choices=(2, 0, 3),
) -> LoanTerms:
    places = draw(st.sampled_from(places_choices))
    disbursement = draw(dates)
    first = None
    if odd_first and draw(st.booleans()):
        first = disbursement + timedelta(days=draw(st.integers(1, 45)))
    return LoanTerms(
        principal=draw(money(places, 1_000, 1_000_000)),
        annual_rate=draw(rates),
        term=draw(st.integers(1, max_term)),
        frequency=draw(st.sampled_from(frequencies)),
        interest_method=draw(st.sampled_from(interest_methods)),
        amortization=draw(st.sampled_from(amortizations)),
        day_count=draw(st.sampled_from(day_counts)),
        rounding_mode=draw(st.sampled_from(("half_even", "half_up"))),
        rounding_places=places,
        disbursement_date=disbursement,
        first_payment_date=first,
        fees=draw(st.sampled_from((Decimal(0), Decimal(25)))),
    )
