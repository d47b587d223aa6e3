"""The payment's state machine (`PaymentService.apply_charge`): what a provider's charge
does to a payment. Money that moved is never undone by a late event."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coursegraph.errors import PaymentFailed
from subgraphs.payments.models import PaymentStatus
from subgraphs.payments.providers.base import ChargeState, ChargeStatus
from subgraphs.payments.service import SETTLED, PaymentService
from tests.unit.builders import build_payment

PAYMENT_STATUSES = tuple(PaymentStatus)

apply_charge = PaymentService.apply_charge


def _charge(
    state: ChargeState, amount: int = 4999, currency: str = "USD", reason: str | None = None
) -> ChargeStatus:
    return ChargeStatus(state, f"ch_{state.value.lower()}", amount, currency, reason)


# (status before, charge) -> (changed, status after); the amount matches throughout.
TRANSITIONS = {
    ("PENDING", ChargeState.SUCCEEDED): (True, "SUCCEEDED"),
    ("PENDING", ChargeState.FAILED): (True, "FAILED"),
    ("PENDING", ChargeState.CANCELED): (True, "CANCELED"),
    ("PENDING", ChargeState.PENDING): (False, "PENDING"),
    # The money moved after all: a failed or canceled checkout still succeeds.
    ("FAILED", ChargeState.SUCCEEDED): (True, "SUCCEEDED"),
    ("CANCELED", ChargeState.SUCCEEDED): (True, "SUCCEEDED"),
}


@pytest.mark.parametrize("status", PAYMENT_STATUSES)
@pytest.mark.parametrize("state", list(ChargeState))
def test_transitions(status: str, state: ChargeState) -> None:
    payment = build_payment(status)
    changed, after = TRANSITIONS.get((status, state), (False, status))
    assert apply_charge(payment, _charge(state)) is changed
    assert payment.status == after


def test_success_records_the_charge() -> None:
    payment = build_payment("FAILED")
    payment.failure_reason = "card declined"
    assert apply_charge(payment, _charge(ChargeState.SUCCEEDED))
    assert payment.gateway_payment_id == "ch_succeeded"
    assert payment.succeeded_at is not None
    assert payment.failure_reason is None
    assert payment.closed_reason is None  # kept: it holds a seat


@pytest.mark.parametrize(
    ("closed_before", "closed_after"), [(None, "CANCELED"), ("SUPERSEDED", "SUPERSEDED")]
)
def test_a_charge_of_a_closed_checkout_is_marked_for_a_full_refund(
    closed_before: str | None, closed_after: str
) -> None:
    payment = build_payment("CANCELED", closed_reason=closed_before)
    assert apply_charge(payment, _charge(ChargeState.SUCCEEDED))
    assert (payment.status, payment.closed_reason) == ("SUCCEEDED", closed_after)


def test_a_failure_says_why() -> None:
    declined = build_payment()
    apply_charge(declined, _charge(ChargeState.FAILED, reason="insufficient funds"))
    assert declined.failure_reason == "insufficient funds"
    silent = build_payment()
    apply_charge(silent, _charge(ChargeState.FAILED))
    assert silent.failure_reason == "The payment was declined."


def test_a_cancel_closes_the_checkout() -> None:
    payment = build_payment()
    apply_charge(payment, _charge(ChargeState.CANCELED))
    assert payment.closed_reason == "CANCELED"


@pytest.mark.parametrize(("amount", "currency"), [(4998, "USD"), (5000, "USD"), (4999, "EUR")])
@pytest.mark.parametrize("status", ["PENDING", "FAILED", "CANCELED"])
def test_another_amount_never_grants_access(status: str, amount: int, currency: str) -> None:
    payment = build_payment(status)
    with pytest.raises(PaymentFailed, match="does not match"):
        apply_charge(payment, _charge(ChargeState.SUCCEEDED, amount, currency))
    assert (payment.status, payment.gateway_payment_id) == (status, None)


charges = st.builds(
    _charge,
    st.sampled_from(list(ChargeState)),
    st.sampled_from([4999, 4999, 1]),
    st.sampled_from(["USD", "USD", "EUR"]),
)


@given(st.lists(charges, max_size=10))
def test_any_sequence_of_events_settles_at_most_once(events: list[ChargeStatus]) -> None:
    payment = build_payment()
    settled_at = None
    for event in events:
        before = payment.status
        try:
            apply_charge(payment, event)
        except PaymentFailed:
            assert payment.status == before
        if before in SETTLED:
            # Nothing a provider says later takes a settled payment back.
            assert payment.status == before
            assert payment.succeeded_at == settled_at
        settled_at = payment.succeeded_at
    assert payment.status in PAYMENT_STATUSES
    assert (payment.status == "SUCCEEDED") == any(
        e.state is ChargeState.SUCCEEDED and (e.amount_minor, e.currency) == (4999, "USD")
        for e in events
    )
