"""Money helpers: exact minor units, the currency's places, refusals people can act on."""

from __future__ import annotations

from decimal import Decimal

import pytest

from coursegraph.errors import BadUserInput
from coursegraph.money import CURRENCY_EXPONENTS, Money, to_decimal, to_minor


@pytest.mark.parametrize(
    ("amount", "currency", "minor", "back"),
    [
        ("99.99", "USD", 9999, "99.99"),
        ("100", "usd", 10000, "100.00"),
        ("0.1", "EUR", 10, "0.10"),
        ("1999.50", "INR", 199950, "1999.50"),
        ("4800", "JPY", 4800, "4800"),
        ("4800.00", "JPY", 4800, "4800"),
        ("15000", "KRW", 15000, "15000"),
        ("1.234", "KWD", 1234, "1.234"),
        (" 12.5 ", " gbp ", 1250, "12.50"),
    ],
)
def test_round_trip(amount: str, currency: str, minor: int, back: str) -> None:
    money = to_minor(amount.strip(), currency)
    assert money == Money(minor, currency.strip().upper())
    assert str(money.amount) == back
    assert to_decimal(minor, money.currency) == Decimal(back)


def test_no_float_ever_creeps_in() -> None:
    # 0.1 + 0.2 is the classic float trap; Decimal input keeps it exact.
    assert to_minor(Decimal("0.1") + Decimal("0.2"), "USD").minor == 30


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("1.001", "USD", "at most 2 decimal places"),
        ("1.5", "JPY", "at most 0 decimal places"),
        ("-0.01", "USD", "negative"),
        ("abc", "USD", "decimal number"),
        ("Infinity", "USD", "finite"),
        ("1", "ABC", "not a supported currency"),
        ("1", "", "not a supported currency"),
        ("21474836.48", "USD", "too large"),
    ],
)
def test_refusals(amount: str, currency: str, message: str) -> None:
    with pytest.raises(BadUserInput, match=message):
        to_minor(amount, currency)


def test_the_table_covers_the_usual_exponents() -> None:
    for code in ("USD", "EUR", "GBP", "INR"):
        assert CURRENCY_EXPONENTS[code] == 2
    for code in ("JPY", "KRW"):
        assert CURRENCY_EXPONENTS[code] == 0
    assert all(len(code) == 3 and code.isupper() for code in CURRENCY_EXPONENTS)
    assert set(CURRENCY_EXPONENTS.values()) == {0, 2, 3}
