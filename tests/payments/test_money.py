"""Refund arithmetic and minor units: exact, rounded down, never through floats."""

from __future__ import annotations

from decimal import Decimal

import pytest

from coursegraph.money import to_decimal
from subgraphs.payments.refunds import prorated_refund


@pytest.mark.parametrize(
    ("paid", "progress", "refund"),
    [
        (4999, "0", 4999),
        (4999, "100", 0),
        (4999, "50", 2499),  # 2499.5 rounds down
        (10000, "25.5", 7450),
        (1000, "33.333", 666),  # 666.67 rounds down
        (1500, "10", 1350),  # JPY: whole yen
        (49900, "99.99", 4),  # 4.99 paise rounds down
        (4999, "-5", 4999),  # clamped
        (4999, "120", 0),
    ],
)
def test_prorated_refund_rounds_down_in_minor_units(paid: int, progress: str, refund: int) -> None:
    assert prorated_refund(paid, Decimal(progress)) == refund


def test_prorated_refund_has_no_float_error() -> None:
    # 0.1 + 0.2 style errors would show here: 3 * 10% of 3333 cents.
    assert prorated_refund(3333, Decimal("70")) == 999
    assert isinstance(prorated_refund(3333, Decimal("70")), int)


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [(1999, "USD", "19.99"), (49900, "INR", "499.00"), (1500, "JPY", "1500"), (5, "USD", "0.05")],
)
def test_minor_units_print_with_the_currency_places(minor: int, currency: str, text: str) -> None:
    assert str(to_decimal(minor, currency)) == text
