"""Refund amounts (subgraphs/payments/refunds.py) and the refund's answer from the
provider (ledger.py): prorated, rounded down, never more than was paid; the payment changes once."""

from __future__ import annotations

import uuid
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coursegraph.errors import BadUserInput
from coursegraph.money import MAX_MINOR_UNITS
from subgraphs.payments.ledger import record_refund_answer
from subgraphs.payments.models import Payment, Refund
from subgraphs.payments.providers.base import RefundState
from subgraphs.payments.refunds import RefundAmount, _explicit_minor, prorated_refund
from tests.unit.builders import build_payment

paid_amounts = st.integers(min_value=0, max_value=MAX_MINOR_UNITS)
# Progress as courses stores it: a percentage, any finite value (clamped to 0..100).
progress_values = st.decimals(
    min_value=-1000, max_value=1000, places=4, allow_nan=False, allow_infinity=False
)


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


@given(paid_amounts, progress_values)
def test_a_refund_is_never_more_than_was_paid(paid: int, progress: Decimal) -> None:
    assert 0 <= prorated_refund(paid, progress) <= paid


@given(paid_amounts, progress_values)
def test_a_refund_is_the_unwatched_share_rounded_down(paid: int, progress: Decimal) -> None:
    share = Fraction(min(max(progress, Decimal(0)), Decimal(100)))
    exact = Fraction(paid) * (100 - share) / 100
    assert prorated_refund(paid, progress) == int(exact)  # floor: both are >= 0


@given(paid_amounts, progress_values, progress_values)
def test_more_progress_never_refunds_more(paid: int, first: Decimal, second: Decimal) -> None:
    low, high = sorted((first, second))
    assert prorated_refund(paid, low) >= prorated_refund(paid, high)


@given(paid_amounts)
def test_untouched_courses_refund_all_and_finished_ones_nothing(paid: int) -> None:
    assert prorated_refund(paid, Decimal(0)) == paid
    assert prorated_refund(paid, Decimal(100)) == 0


# ------------------------------------------------------------------ an ADMIN's amount
def _paid(amount_minor: int = 4999) -> Payment:
    return build_payment("SUCCEEDED", amount_minor)


@given(st.integers(min_value=1, max_value=MAX_MINOR_UNITS), st.integers(0, MAX_MINOR_UNITS))
def test_an_explicit_amount_is_more_than_zero_and_at_most_paid(paid: int, asked: int) -> None:
    amount = RefundAmount(Decimal(asked).scaleb(-2), "usd")
    if 0 < asked <= paid:
        assert _explicit_minor(amount, _paid(paid)) == asked
    else:
        with pytest.raises(BadUserInput, match="more than 0 and at most the amount paid"):
            _explicit_minor(amount, _paid(paid))


def test_an_explicit_amount_is_in_the_payments_currency() -> None:
    with pytest.raises(BadUserInput, match="Refunds are in USD"):
        _explicit_minor(RefundAmount(Decimal("1.00"), "EUR"), _paid())
    with pytest.raises(BadUserInput, match="decimal places"):
        _explicit_minor(RefundAmount(Decimal("1.001"), "USD"), _paid())


# ------------------------------------------------------------------ the provider's answer
def _refund(payment: Payment, amount_minor: int, status: str = "PENDING") -> Refund:
    return Refund(
        id=uuid.uuid4(),
        payment_id=payment.id,
        amount_minor=amount_minor,
        currency=payment.currency,
        status=status,
        provider_refund_id=None,
        failure_reason=None,
    )


@pytest.mark.parametrize(
    ("refunded", "payment_after"), [(4999, "REFUNDED"), (1000, "PARTIALLY_REFUNDED")]
)
def test_a_refund_done_at_the_provider_refunds_the_payment_once(
    refunded: int, payment_after: str
) -> None:
    payment = _paid(4999)
    refund = _refund(payment, refunded)
    assert record_refund_answer(payment, refund, "re_1", RefundState.SUCCEEDED)
    assert (refund.status, refund.provider_refund_id) == ("SUCCEEDED", "re_1")
    assert (payment.status, payment.refunded_minor) == (payment_after, refunded)
    # The same answer again (a webhook after the API's answer) changes nothing more.
    assert not record_refund_answer(payment, refund, "re_2", RefundState.SUCCEEDED)
    assert (refund.provider_refund_id, payment.status) == ("re_1", payment_after)


def test_a_refused_refund_fails_and_leaves_the_payment() -> None:
    payment = _paid()
    refund = _refund(payment, 4999)
    assert not record_refund_answer(payment, refund, None, RefundState.FAILED)
    assert (refund.status, payment.status, payment.refunded_minor) == ("FAILED", "SUCCEEDED", 0)


def test_a_late_failure_does_not_undo_a_succeeded_refund() -> None:
    payment = _paid()
    refund = _refund(payment, 4999)
    record_refund_answer(payment, refund, "re_1", RefundState.SUCCEEDED)
    assert not record_refund_answer(payment, refund, "re_1", RefundState.FAILED)
    assert (refund.status, payment.status) == ("SUCCEEDED", "REFUNDED")


def test_a_pending_refund_at_the_provider_already_counts_for_the_payment() -> None:
    # The provider took it: the money is on its way back, the seat must go.
    payment = _paid()
    refund = _refund(payment, 4999, status="FAILED")
    refund.failure_reason = "timeout"
    assert record_refund_answer(payment, refund, "re_1", RefundState.PENDING)
    assert (refund.status, refund.failure_reason) == ("PENDING", None)
    assert payment.status == "REFUNDED"


@given(
    st.lists(
        st.tuples(st.sampled_from(list(RefundState)), st.sampled_from([None, "re_a", "re_b"])),
        max_size=8,
    ),
    st.integers(min_value=1, max_value=4999),
)
def test_any_sequence_of_answers_changes_the_payment_at_most_once(
    answers: list[tuple[RefundState, str | None]], amount: int
) -> None:
    payment = _paid(4999)
    refund = _refund(payment, amount)
    changes = [record_refund_answer(payment, refund, ref, state) for state, ref in answers]
    assert changes.count(True) <= 1
    assert payment.refunded_minor in (0, amount)
    assert payment.status in ("SUCCEEDED", "REFUNDED", "PARTIALLY_REFUNDED")
    assert (payment.status == "SUCCEEDED") == (True not in changes)
    # The first provider id recorded is kept.
    first = next((ref for _, ref in answers if ref), None)
    assert refund.provider_refund_id == first
