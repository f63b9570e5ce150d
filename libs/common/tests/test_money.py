from decimal import Decimal

import pytest
from common.money import AmountError, format_amount, parse_amount


@pytest.mark.parametrize(("raw", "currency", "expected"), [
    ("888.49", "USD", Decimal("888.49")), ("1", "USD", Decimal("1")), ("0.5", "EUR", Decimal("0.5")),
    ("1000", "JPY", Decimal("1000")), ("1.234", "KWD", Decimal("1.234")),
])
def test_valid_amounts(raw, currency, expected):
    assert parse_amount(raw, currency) == expected


@pytest.mark.parametrize(("raw", "currency"), [
    ("1.001", "USD"), ("0", "USD"), ("0.00", "USD"), ("-1", "USD"), ("1e3", "USD"), ("1.5", "JPY"),
    (" 1", "USD"), ("NaN", "USD"), ("Infinity", "USD"), ("1.", "USD"), (".5", "USD"), ("01", "USD"),
    ("1", "XXX"), (12.5, "USD"), (10, "USD"),
])
def test_invalid_amounts(raw, currency):
    with pytest.raises(AmountError):
        parse_amount(raw, currency)


def test_format():
    assert format_amount(Decimal("5"), "USD") == "5.00"
    assert format_amount(Decimal("5"), "JPY") == "5"
