"""Small helpers shared by the finance modules: exact conversions and JSON-able formatting."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, localcontext
from fractions import Fraction

MAX_PLACES = 18


def to_decimal(value: Decimal | int | str, *, name: str) -> Decimal:
    """An exact Decimal from a Decimal, int or decimal string. Floats are refused (money is never float)."""
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"{name} must be a Decimal, int or decimal string, not {type(value).__name__}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | str):
        result = Decimal(value)
    else:
        raise TypeError(f"{name} must be a Decimal, int or decimal string, not {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{name} must be a finite number")
    return result


def to_fraction(value: Decimal | Fraction | int) -> Fraction:
    if isinstance(value, float):
        raise TypeError("floats are not accepted; use Decimal or Fraction")
    return value if isinstance(value, Fraction) else Fraction(value)


def check_places(places: int) -> int:
    if isinstance(places, bool) or not isinstance(places, int) or not 0 <= places <= MAX_PLACES:
        raise ValueError(f"places must be an int between 0 and {MAX_PLACES}, got {places!r}")
    return places


def has_places(value: Decimal, places: int) -> bool:
    """True when value has no more than `places` decimals (trailing zeros allowed)."""
    return value == value.quantize(Decimal(1).scaleb(-places)) if value.is_finite() else False


def fmt_money(value: Decimal, places: int) -> str:
    """'888.49', '0.00': the amount with exactly `places` decimals (value must already be rounded)."""
    return str(value.quantize(Decimal(1).scaleb(-places)))


def fraction_str(value: Fraction) -> str:
    return f"{value.numerator}/{value.denominator}"


def fraction_decimal_str(value: Fraction, digits: int = 20) -> str:
    """A decimal rendering of an exact fraction, for people reading an explanation (never used to compute)."""
    with localcontext() as ctx:
        ctx.prec = digits
        return str(Decimal(value.numerator) / Decimal(value.denominator))


def explain_fraction(value: Fraction) -> dict[str, str]:
    return {"fraction": fraction_str(value), "decimal": fraction_decimal_str(value)}


def iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None
