"""Money (coursegraph/money.py): exact minor units, the currency's places, bounds checked
before arithmetic, refusals people can act on."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coursegraph.errors import BadUserInput
from coursegraph.money import (
    CURRENCY_EXPONENTS,
    MAX_AMOUNT_CHARS,
    MAX_MINOR_UNITS,
    Money,
    normalise_currency,
    parse_amount,
    to_decimal,
    to_minor,
)

currencies = st.sampled_from(sorted(CURRENCY_EXPONENTS))
minor_units = st.integers(min_value=0, max_value=MAX_MINOR_UNITS)


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
        ("Infinity", "USD", "decimal number"),
        ("NaN", "USD", "decimal number"),
        (Decimal("NaN"), "USD", "finite"),
        ("1", "ABC", "not a supported currency"),
        ("1", "", "not a supported currency"),
        ("21474836.48", "USD", r"too large: at most 21474836\.47 USD"),
        ("2147483648", "JPY", "at most 2147483647 JPY"),
    ],
)
def test_refusals(amount: str | Decimal, currency: str, message: str) -> None:
    with pytest.raises(BadUserInput, match=message):
        to_minor(amount, currency)


def test_the_table_covers_the_usual_exponents() -> None:
    for code in ("USD", "EUR", "GBP", "INR"):
        assert CURRENCY_EXPONENTS[code] == 2
    for code in ("JPY", "KRW"):
        assert CURRENCY_EXPONENTS[code] == 0
    assert all(len(code) == 3 and code.isupper() for code in CURRENCY_EXPONENTS)
    assert set(CURRENCY_EXPONENTS.values()) == {0, 2, 3}


@pytest.mark.parametrize(
    "text",
    [
        "1E+300000",  # once ~4.5 s of CPU in int(Decimal) after scaling
        "1E+1000000",  # once INTERNAL_SERVER_ERROR: Decimal's context overflowed
        "1E-999999",
        "1_000",  # Python's Decimal reads these three; an API should not
        "\u0661\u0662\u0663",
        " 12",
        "1" * 41,
        "0x10",
        "",
    ],
)
def test_only_plain_bounded_decimals_are_parsed(text: str) -> None:
    with pytest.raises(BadUserInput, match="decimal number such as"):
        parse_amount(text)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (Decimal("1E+300000"), "too large"),
        (Decimal("1E+999999999"), "too large"),
        (Decimal("1E-999999"), "too many digits"),
        (Decimal("0E-999999"), "too many digits"),
        (Decimal("1." + "0" * 40), "too many digits"),
    ],
)
def test_decimals_are_bounded_before_they_are_scaled(value: Decimal, message: str) -> None:
    with pytest.raises(BadUserInput, match=message):
        to_minor(value, "USD")


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("19.99", Decimal("19.99")),
        ("1E+3", Decimal("1E+3")),
        (1999, Decimal(1999)),
        (1.5, Decimal("1.5")),
    ],
)
def test_json_numbers_and_small_exponents_are_amounts(value: object, parsed: Decimal) -> None:
    assert parse_amount(value) == parsed
    assert to_minor(parse_amount(value), "USD").minor == int(parsed * 100)


@pytest.mark.parametrize("value", [True, None, [1], {"amount": "1"}, b"1"])
def test_only_strings_and_numbers_are_amounts(value: object) -> None:
    with pytest.raises(BadUserInput, match="decimal number"):
        parse_amount(value)


def test_the_largest_storable_amount_is_accepted() -> None:
    assert to_minor("21474836.47", "USD").minor == 2**31 - 1


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [(1999, "USD", "19.99"), (49900, "INR", "499.00"), (1500, "JPY", "1500"), (5, "USD", "0.05")],
)
def test_minor_units_print_with_the_currency_places(minor: int, currency: str, text: str) -> None:
    assert str(to_decimal(minor, currency)) == text


# ------------------------------------------------------------------ properties
@given(minor_units, currencies)
def test_format_then_parse_gives_the_same_money(minor: int, currency: str) -> None:
    text = str(to_decimal(minor, currency))
    assert to_minor(text, currency) == Money(minor, currency)
    assert to_minor(parse_amount(text), currency.lower()) == Money(minor, currency)


@given(minor_units, currencies)
def test_an_amount_prints_with_exactly_the_currency_places(minor: int, currency: str) -> None:
    exponent = Money(minor, currency).amount.as_tuple().exponent
    assert exponent == -CURRENCY_EXPONENTS[currency]


@given(minor_units, currencies, st.integers(min_value=1, max_value=9))
def test_a_place_more_than_the_currency_has_is_refused(
    minor: int, currency: str, extra: int
) -> None:
    places = CURRENCY_EXPONENTS[currency] + 1
    # One digit past the currency's places, still inside the bound.
    amount = Decimal(minor * 10 + extra).scaleb(-places)
    if minor == MAX_MINOR_UNITS:
        amount -= Decimal(10).scaleb(-places)
    with pytest.raises(BadUserInput, match="decimal places"):
        to_minor(amount, currency)


@given(st.integers(min_value=MAX_MINOR_UNITS + 1), currencies)
def test_more_than_the_bound_is_refused(minor: int, currency: str) -> None:
    with pytest.raises(BadUserInput, match="too large"):
        to_minor(to_decimal(minor, currency), currency)


@given(st.integers(min_value=1), currencies)
def test_negative_amounts_are_refused(minor: int, currency: str) -> None:
    with pytest.raises(BadUserInput, match="negative"):
        to_minor(-to_decimal(minor, currency), currency)


@given(st.text(max_size=60), currencies)
def test_any_text_is_money_or_a_bad_user_input(text: str, currency: str) -> None:
    # Never another exception: a client's amount must not become a 500.
    try:
        money = to_minor(text, currency)
    except BadUserInput:
        return
    assert 0 <= money.minor <= MAX_MINOR_UNITS
    assert len(text) <= MAX_AMOUNT_CHARS


@given(
    st.from_regex(r"-?[0-9]{1,30}(\.[0-9]{1,30})?([eE][+-]?[0-9]{1,2})?", fullmatch=True),
    currencies,
)
def test_plain_decimals_are_parsed_and_then_bounded(text: str, currency: str) -> None:
    if len(text) > MAX_AMOUNT_CHARS:
        with pytest.raises(BadUserInput, match="decimal number"):
            parse_amount(text)
        return
    assert parse_amount(text) == Decimal(text)
    try:
        money = to_minor(text, currency)
    except BadUserInput as refusal:
        reason = str(refusal)
    else:
        assert money.amount == Decimal(text)
        return
    assert Decimal(text) < 0 or any(why in reason for why in ("too large", "places", "digits"))


@given(currencies, st.sampled_from(["{}", " {} ", "{}\t"]), st.booleans())
def test_currency_codes_ignore_case_and_spaces(currency: str, shape: str, lower: bool) -> None:
    written = shape.format(currency.lower() if lower else currency)
    assert normalise_currency(written) == currency


@given(st.text(alphabet=st.characters(categories=["Lu"]), min_size=1, max_size=4))
def test_unknown_currencies_are_refused(code: str) -> None:
    if code in CURRENCY_EXPONENTS:
        return
    with pytest.raises(BadUserInput, match="not a supported currency"):
        normalise_currency(code)
