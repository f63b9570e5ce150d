"""Repayment schedules: equal installments, equal principal and flat interest.

Conventions (docs/finance.md states them in plain words):
- equal installments: r = annual_rate / periods_per_year (12, 26, 52);
  installment = round(P*r / (1 - (1+r)^-n)), or round(P/n) when r = 0, computed exactly;
  interest = round(opening balance * annual_rate * year_fraction(period_start, due_date));
  principal = installment - interest; the last installment takes the remaining principal.
- equal principal: principal = round(P/n), the last takes the remainder; interest as above.
- flat: interest = round(P * annual_rate / periods_per_year) every period, except an odd first
  period, which is round(P * annual_rate * year_fraction(disbursement, first due date));
  principal as in equal principal (whatever `amortization` says).
- principal of an installment is capped to [0, opening balance], so balances never go negative
  and fall to exactly 0 on the last installment.
- `fees` are added to installment 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

from common.finance._util import (
    check_places,
    explain_fraction,
    fmt_money,
    fraction_decimal_str,
    has_places,
    iso,
    to_decimal,
)
from common.finance.dates import PERIODS_PER_YEAR, add_periods, check_frequency, due_dates
from common.finance.daycount import DAY_COUNT_RULES, check_day_count, year_fraction
from common.finance.rounding import ROUNDING_RULES, check_rounding_mode, round_money

DECLINING_BALANCE = "declining_balance"
FLAT = "flat"
INTEREST_METHODS: tuple[str, ...] = (DECLINING_BALANCE, FLAT)

EQUAL_INSTALLMENTS = "equal_installments"
EQUAL_PRINCIPAL = "equal_principal"
AMORTIZATIONS: tuple[str, ...] = (EQUAL_INSTALLMENTS, EQUAL_PRINCIPAL)


def _check_choice(value: str, choices: tuple[str, ...], name: str) -> str:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {', '.join(choices)}")
    return value


def _parse_date(value: date | str | None, name: str) -> date | None:
    if value is None or (isinstance(value, date) and not hasattr(value, "hour")):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value)
    raise TypeError(f"{name} must be a date or an ISO date string")


@dataclass(frozen=True)
class LoanTerms:
    """Everything the engine needs to build a schedule. Amounts are Decimals (strings/ints are accepted
    and converted; floats are refused)."""

    principal: Decimal
    annual_rate: Decimal
    term: int
    frequency: str
    interest_method: str
    amortization: str
    day_count: str
    rounding_mode: str
    rounding_places: int
    disbursement_date: date
    first_payment_date: date | None = None
    fees: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        places = check_places(self.rounding_places)
        unit = Decimal(1).scaleb(-places)
        principal = to_decimal(self.principal, name="principal")
        if principal <= 0 or not has_places(principal, places):
            raise ValueError(f"principal must be > 0 with at most {places} decimals, got {principal}")
        rate = to_decimal(self.annual_rate, name="annual_rate")
        if rate < 0:
            raise ValueError("annual_rate must be >= 0 (a fraction: 0.12 is 12%)")
        fees = to_decimal(self.fees, name="fees")
        if fees < 0 or not has_places(fees, places):
            raise ValueError(f"fees must be >= 0 with at most {places} decimals, got {fees}")
        if isinstance(self.term, bool) or not isinstance(self.term, int) or self.term < 1:
            raise ValueError(f"term must be a positive int, got {self.term!r}")
        check_frequency(self.frequency)
        _check_choice(self.interest_method, INTEREST_METHODS, "interest_method")
        _check_choice(self.amortization, AMORTIZATIONS, "amortization")
        check_day_count(self.day_count)
        check_rounding_mode(self.rounding_mode)
        disbursement = _parse_date(self.disbursement_date, "disbursement_date")
        first = _parse_date(self.first_payment_date, "first_payment_date")
        if disbursement is None:
            raise ValueError("disbursement_date is required")
        if first is not None and first <= disbursement:
            raise ValueError("first_payment_date must be after disbursement_date")
        object.__setattr__(self, "principal", principal.quantize(unit))
        object.__setattr__(self, "annual_rate", rate)
        object.__setattr__(self, "fees", fees.quantize(unit))
        object.__setattr__(self, "disbursement_date", disbursement)
        object.__setattr__(self, "first_payment_date", first)

    @property
    def periods_per_year(self) -> int:
        return PERIODS_PER_YEAR[self.frequency]

    @property
    def default_first_payment_date(self) -> date:
        return add_periods(self.disbursement_date, self.frequency, 1)

    @property
    def resolved_first_payment_date(self) -> date:
        """first_payment_date, or one period after disbursement when none was given."""
        return self.first_payment_date or self.default_first_payment_date

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoanTerms:
        """Accepts the API product/preview shape (`"rounding": {"mode", "places"}`) or flat
        `rounding_mode`/`rounding_places`; amounts as decimal strings, dates as ISO strings."""
        rounding = data.get("rounding") or {}
        return cls(
            principal=to_decimal(data["principal"], name="principal"),
            annual_rate=to_decimal(data["annual_rate"], name="annual_rate"),
            term=int(data["term"]),
            frequency=data["frequency"],
            interest_method=data["interest_method"],
            amortization=data["amortization"],
            day_count=data["day_count"],
            rounding_mode=rounding.get("mode", data.get("rounding_mode")),
            rounding_places=int(rounding.get("places", data.get("rounding_places", 2))),
            disbursement_date=_parse_date(data["disbursement_date"], "disbursement_date"),
            first_payment_date=_parse_date(data.get("first_payment_date"), "first_payment_date"),
            fees=to_decimal(data.get("fees", "0"), name="fees"),
        )

    def to_dict(self) -> dict[str, Any]:
        places = self.rounding_places
        return {
            "principal": fmt_money(self.principal, places),
            "annual_rate": str(self.annual_rate),
            "term": self.term,
            "frequency": self.frequency,
            "interest_method": self.interest_method,
            "amortization": self.amortization,
            "day_count": self.day_count,
            "rounding": {"mode": self.rounding_mode, "places": places},
            "disbursement_date": iso(self.disbursement_date),
            "first_payment_date": iso(self.first_payment_date),
            "fees": fmt_money(self.fees, places),
        }


@dataclass(frozen=True)
class Installment:
    number: int
    due_date: date
    principal: Decimal
    interest: Decimal
    fees: Decimal
    total: Decimal
    balance_after: Decimal
    period_start: date
    opening_balance: Decimal = Decimal(0)
    fraction: Fraction = Fraction(0)
    interest_exact: Fraction = Fraction(0)
    interest_rule: str = ""
    principal_rule: str = ""

    def to_dict(self, places: int) -> dict[str, Any]:
        return {
            "number": self.number,
            "due_date": iso(self.due_date),
            "principal": fmt_money(self.principal, places),
            "interest": fmt_money(self.interest, places),
            "fees": fmt_money(self.fees, places),
            "total": fmt_money(self.total, places),
            "balance_after": fmt_money(self.balance_after, places),
        }

    def explain(self, places: int) -> dict[str, Any]:
        return {
            **self.to_dict(places),
            "period_start": iso(self.period_start),
            "opening_balance": fmt_money(self.opening_balance, places),
            "year_fraction": explain_fraction(self.fraction),
            "interest_rule": self.interest_rule,
            "interest_unrounded": fraction_decimal_str(self.interest_exact, 28),
            "principal_rule": self.principal_rule,
        }


@dataclass(frozen=True)
class Schedule:
    installments: tuple[Installment, ...]
    totals: dict[str, Decimal]
    places: int = 2
    terms: LoanTerms | None = None
    installment_amount: Decimal | None = None
    periodic_rate: Fraction | None = None
    rule: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The API.md schedule document: amounts as strings with the product's places, ISO dates."""
        return {
            "installments": [inst.to_dict(self.places) for inst in self.installments],
            "totals": {key: fmt_money(self.totals[key], self.places) for key in ("principal", "interest", "fees", "total")},
        }

    def explain(self) -> dict[str, Any]:
        terms = self.terms
        return {
            "rule": self.rule,
            "inputs": terms.to_dict() if terms else None,
            "rate": str(terms.annual_rate) if terms else None,
            "periodic_rate": explain_fraction(self.periodic_rate) if self.periodic_rate is not None else None,
            "installment_amount": (
                fmt_money(self.installment_amount, self.places) if self.installment_amount is not None else None
            ),
            "day_count": {"convention": terms.day_count, "rule": DAY_COUNT_RULES[terms.day_count]} if terms else None,
            "rounding": (
                {"mode": terms.rounding_mode, "places": self.places, "rule": ROUNDING_RULES[terms.rounding_mode],
                 "step": "every interest, principal and installment amount is rounded once, when computed"}
                if terms else None
            ),
            "installments": [inst.explain(self.places) for inst in self.installments],
            "totals": self.to_dict()["totals"],
        }


def level_installment(principal: Decimal, periodic_rate: Fraction, term: int, *, places: int, mode: str) -> Decimal:
    """round(P*r / (1 - (1+r)^-n)) computed exactly; round(P/n) when r = 0."""
    p = Fraction(principal)
    if periodic_rate == 0:
        return round_money(p / term, places=places, mode=mode)
    growth = (1 + periodic_rate) ** term
    return round_money(p * periodic_rate * growth / (growth - 1), places=places, mode=mode)


@dataclass
class _Plan:
    rule: str
    level_principal: Decimal | None = None
    installment: Decimal | None = None
    flat_interest: Decimal | None = None
    flat_exact: Fraction | None = None
    odd_first: bool = False


def _plan(terms: LoanTerms, rate: Fraction, periodic: Fraction) -> _Plan:
    places, mode, n = terms.rounding_places, terms.rounding_mode, terms.term
    p = Fraction(terms.principal)
    if terms.interest_method == FLAT:
        exact = p * periodic
        return _Plan(
            rule="flat: interest = round(P * annual_rate / periods_per_year) each period (odd first period by the "
            "day count); principal = round(P / n), the last installment takes the remainder",
            level_principal=round_money(p / n, places=places, mode=mode),
            flat_interest=round_money(exact, places=places, mode=mode),
            flat_exact=exact,
            odd_first=terms.resolved_first_payment_date != terms.default_first_payment_date,
        )
    if terms.amortization == EQUAL_PRINCIPAL:
        return _Plan(
            rule="declining balance, equal principal: principal = round(P / n), the last takes the remainder; "
            "interest = round(opening balance * annual_rate * year_fraction(period_start, due_date))",
            level_principal=round_money(p / n, places=places, mode=mode),
        )
    return _Plan(
        rule="declining balance, equal installments: installment = round(P*r / (1 - (1+r)^-n)) with "
        "r = annual_rate / periods_per_year; interest = round(opening balance * annual_rate * "
        "year_fraction(period_start, due_date)); principal = installment - interest; the last installment "
        "takes the remaining principal",
        installment=level_installment(terms.principal, periodic, n, places=places, mode=mode),
    )


def generate_schedule(terms: LoanTerms) -> Schedule:
    places, mode, n = terms.rounding_places, terms.rounding_mode, terms.term
    rate = Fraction(terms.annual_rate)
    periodic = rate / terms.periods_per_year
    plan = _plan(terms, rate, periodic)
    zero = Decimal(0).quantize(Decimal(1).scaleb(-places))
    p = Fraction(terms.principal)

    installments: list[Installment] = []
    balance = terms.principal
    period_start = terms.disbursement_date
    for number, due in enumerate(due_dates(terms.resolved_first_payment_date, terms.frequency, n), start=1):
        fraction = year_fraction(terms.day_count, period_start, due)
        if plan.flat_interest is not None and not (number == 1 and plan.odd_first):
            interest_exact, interest = plan.flat_exact, plan.flat_interest
            interest_rule = "flat: round(P * annual_rate / periods_per_year)"
        elif plan.flat_interest is not None:
            interest_exact = p * rate * fraction
            interest = round_money(interest_exact, places=places, mode=mode)
            interest_rule = "flat, odd first period: round(P * annual_rate * year_fraction)"
        else:
            interest_exact = Fraction(balance) * rate * fraction
            interest = round_money(interest_exact, places=places, mode=mode)
            interest_rule = "round(opening balance * annual_rate * year_fraction)"

        if number == n:
            principal, principal_rule = balance, "last installment: the remaining principal"
        elif plan.installment is not None:
            principal, principal_rule = plan.installment - interest, "installment - interest"
        else:
            principal, principal_rule = plan.level_principal, "round(P / n)"
        if principal > balance:
            principal, principal_rule = balance, principal_rule + ", capped to the opening balance"
        elif principal < 0:
            principal, principal_rule = zero, principal_rule + ", floored at 0 (interest exceeds the installment)"

        fees = terms.fees if number == 1 else zero
        opening = balance
        balance = balance - principal
        installments.append(
            Installment(
                number=number,
                due_date=due,
                principal=principal,
                interest=interest,
                fees=fees,
                total=principal + interest + fees,
                balance_after=balance,
                period_start=period_start,
                opening_balance=opening,
                fraction=fraction,
                interest_exact=interest_exact,
                interest_rule=interest_rule,
                principal_rule=principal_rule,
            )
        )
        period_start = due

    totals = {
        "principal": sum((i.principal for i in installments), zero),
        "interest": sum((i.interest for i in installments), zero),
        "fees": sum((i.fees for i in installments), zero),
        "total": sum((i.total for i in installments), zero),
    }
    return Schedule(
        installments=tuple(installments),
        totals=totals,
        places=places,
        terms=terms,
        installment_amount=plan.installment,
        periodic_rate=periodic,
        rule=plan.rule,
    )
