"""Money amounts: decimal strings validated against the currency's minor units. Never float."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import AfterValidator, StrictStr

# ISO 4217 minor units of the currencies LendSimple accepts.
MINOR_UNITS: dict[str, int] = {
    "USD": 2, "EUR": 2, "GBP": 2, "CAD": 2, "AUD": 2, "NZD": 2, "CHF": 2, "SEK": 2, "NOK": 2, "DKK": 2,
    "PLN": 2, "CZK": 2, "MXN": 2, "BRL": 2, "INR": 2, "ZAR": 2, "SGD": 2, "HKD": 2, "CNY": 2, "KES": 2,
    "NGN": 2, "PHP": 2, "ILS": 2, "TRY": 2, "JPY": 0, "KRW": 0, "CLP": 0, "VND": 0, "ISK": 0, "UGX": 0,
    "KWD": 3, "BHD": 3, "JOD": 3, "OMR": 3, "TND": 3,
}

_AMOUNT = re.compile(r"^(0|[1-9]\d{0,14})(\.\d+)?$")


class AmountError(ValueError):
    pass


def minor_units(currency: str) -> int:
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise AmountError(f"unknown currency {currency!r}") from None


def validate_currency(currency: str) -> str:
    minor_units(currency)
    return currency


def parse_amount(raw: str, currency: str | None = None, *, positive: bool = True) -> Decimal:
    """Parse a decimal amount string; reject floats, exponents, signs, too many decimals, zero."""
    if not isinstance(raw, str):
        raise AmountError("amount must be a decimal string such as \"888.49\", not a number")
    if not _AMOUNT.match(raw):
        raise AmountError("amount must be a plain non-negative decimal string such as \"888.49\"")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise AmountError("amount is not a decimal") from None
    if currency is not None:
        places = minor_units(currency)
        if -value.as_tuple().exponent > places:
            raise AmountError(f"{currency} allows at most {places} decimal places")
    if positive and value <= 0:
        raise AmountError("amount must be greater than zero")
    return value


def quantize(value: Decimal, currency_or_places: str | int) -> Decimal:
    places = currency_or_places if isinstance(currency_or_places, int) else minor_units(currency_or_places)
    return value.quantize(Decimal(1).scaleb(-places))


def format_amount(value: Decimal, currency_or_places: str | int) -> str:
    return str(quantize(Decimal(value), currency_or_places))


def _decimal_string(raw: str) -> str:
    parse_amount(raw, positive=False)
    return raw


# A pydantic field type: a JSON string holding a decimal amount (JSON numbers are refused).
DecimalString = Annotated[StrictStr, AfterValidator(_decimal_string)]
