"""Money: integer minor units plus an ISO-4217 code in storage, decimal strings in the API.

No floats anywhere: amounts arrive as `Decimal`, are stored as whole minor units (cents,
yen, fils) and leave as `Decimal` again, with as many places as the currency has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from coursegraph.errors import BadUserInput

# Minor-unit exponents (ISO 4217). Currencies left out are refused rather than guessed.
CURRENCY_EXPONENTS: dict[str, int] = {
    # two decimal places
    "USD": 2, "EUR": 2, "GBP": 2, "INR": 2, "AUD": 2, "CAD": 2, "CHF": 2, "CNY": 2,
    "HKD": 2, "SGD": 2, "NZD": 2, "SEK": 2, "NOK": 2, "DKK": 2, "PLN": 2, "CZK": 2,
    "HUF": 2, "RON": 2, "BGN": 2, "TRY": 2, "ILS": 2, "AED": 2, "SAR": 2, "QAR": 2,
    "ZAR": 2, "NGN": 2, "KES": 2, "EGP": 2, "MAD": 2, "BRL": 2, "MXN": 2, "ARS": 2,
    "COP": 2, "PEN": 2, "THB": 2, "MYR": 2, "PHP": 2, "IDR": 2, "PKR": 2, "BDT": 2,
    "LKR": 2, "NPR": 2, "TWD": 2, "UAH": 2,
    # no minor unit
    "JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "UGX": 0, "XAF": 0, "XOF": 0,
    "PYG": 0, "RWF": 0,
    # three decimal places
    "BHD": 3, "JOD": 3, "KWD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip

# Prices travel as GraphQL `Int` (32-bit signed) between services and courses stores them
# in an `integer` column.
MAX_MINOR_UNITS = 2**31 - 1

# An amount is a plain decimal: digits, an optional fraction, at most a two-digit
# exponent. Python's Decimal accepts far more ("1_000", non-ASCII digits, "1E+999999",
# whose scaling to minor units costs seconds of CPU), so text is checked before any
# arithmetic, and a Decimal's size before it is scaled.
MAX_AMOUNT_CHARS = 40
MAX_AMOUNT_DIGITS = 40
MAX_AMOUNT_EXPONENT = 30
_PLAIN_DECIMAL = re.compile(r"-?[0-9]{1,30}(?:\.[0-9]{1,30})?(?:[eE][+-]?[0-9]{1,2})?", re.ASCII)


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in minor units of `currency`; `amount` gives it back as a Decimal."""

    minor: int
    currency: str

    @property
    def amount(self) -> Decimal:
        return to_decimal(self.minor, self.currency)


def currency_exponent(currency: str) -> int:
    exponent = CURRENCY_EXPONENTS.get(currency)
    if exponent is None:
        raise BadUserInput(f"{currency!r} is not a supported currency code.", field="currency")
    return exponent


def normalise_currency(currency: str) -> str:
    code = currency.strip().upper()
    currency_exponent(code)
    return code


def parse_amount(value: object) -> Decimal:
    """An amount from API input (a string, or a JSON number), refused unless it is a plain,
    bounded decimal such as "19.99"."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise BadUserInput('The amount must be a decimal number such as "19.99".', field="amount")
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_AMOUNT_CHARS or not _PLAIN_DECIMAL.fullmatch(text):
        raise BadUserInput(
            'The amount must be a decimal number such as "19.99" (digits, an optional'
            f" fraction, at most {MAX_AMOUNT_CHARS} characters).",
            field="amount",
        )
    return Decimal(text)


def to_minor(amount: Decimal | str, currency: str) -> Money:
    """Parse a decimal amount into minor units; refuse what cannot be charged exactly."""
    code = normalise_currency(currency)
    exponent = CURRENCY_EXPONENTS[code]
    value = amount if isinstance(amount, Decimal) else parse_amount(amount)
    if not value.is_finite():
        raise BadUserInput("The amount must be a finite number.", field="amount")
    if value < 0:
        raise BadUserInput("The amount must not be negative.", field="amount")
    # Bounded before any scaling: huge exponents or digit counts make Decimal slow
    # (comparisons look at the exponent first, so they stay cheap).
    largest = to_decimal(MAX_MINOR_UNITS, code)
    if value > largest:
        raise BadUserInput(f"The amount is too large: at most {largest} {code}.", field="amount")
    _, digits, places = value.as_tuple()
    assert isinstance(places, int)  # finite
    if len(digits) > MAX_AMOUNT_DIGITS or places < -MAX_AMOUNT_EXPONENT:
        raise BadUserInput("The amount has too many digits.", field="amount")
    scaled = value.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise BadUserInput(
            f"{code} amounts have at most {exponent} decimal places.", field="amount"
        )
    return Money(int(scaled), code)


def to_decimal(minor: int, currency: str) -> Decimal:
    """Minor units as a Decimal with the currency's places: 9999 USD -> Decimal("99.99")."""
    return Decimal(minor).scaleb(-CURRENCY_EXPONENTS[currency])


def display(minor: int, currency: str) -> str:
    """An amount for people to read, with the currency's places: 4999 USD -> "49.99 USD"."""
    return f"{to_decimal(minor, currency)} {currency}"
