"""Stripe through the real SDK against a local stand-in, with real `Stripe-Signature`s."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from functools import partial
from operator import contains
from typing import Any

import asyncpg

from tests.payments.conftest import Stack, eventually


@dataclass
class Checkout:
    payment: dict[str, Any]
    intent_id: str
    token: str

    @property
    def id(self) -> str:
        return str(self.payment["id"])


async def start(stack: Stack, price: int = 4999, currency: str = "USD") -> Checkout:
    course = stack.course(price_minor=price, currency=currency)
    _, token = stack.token()
    created = (await stack.create(token, course.id, "STRIPE")).ok()["createPayment"]
    client_secret = created["checkout"]["clientSecret"]
    return Checkout(created, client_secret.split("_secret_")[0], token)


async def succeeded_webhook(stack: Stack, intent_id: str, event_id: str | None = None) -> bytes:
    intent = stack.stripe.intents[intent_id]
    return stack.stripe.event("payment_intent.succeeded", intent, event_id)


async def test_stripe_happy_path(stack: Stack) -> None:
    checkout = await start(stack)
    assert checkout.payment["checkout"]["provider"] == "STRIPE"
    assert checkout.payment["checkout"]["clientSecret"].startswith("pi_")
    intent = stack.stripe.intents[checkout.intent_id]
    assert (intent["amount"], intent["currency"]) == (4999, "usd")
    assert intent["metadata"]["payment_id"] == checkout.id

    stack.stripe.succeed(checkout.intent_id)
    verified = (await stack.verify(checkout.token, checkout.id, checkout.intent_id)).ok()
    assert verified["verifyPayment"]["status"] == "SUCCEEDED"
    assert stack.courses.activations == [checkout.id]

    body = await succeeded_webhook(stack, checkout.intent_id)
    response = await stack.webhook("stripe", body, {"Stripe-Signature": stack.stripe.sign(body)})
    assert response.status_code == 200
    assert response.json()["outcome"] == "no change"
    assert stack.courses.activations == [checkout.id]


async def test_ten_duplicate_webhooks_complete_one_enrollment(stack: Stack) -> None:
    checkout = await start(stack)
    stack.stripe.succeed(checkout.intent_id)
    body = await succeeded_webhook(stack, checkout.intent_id, event_id="evt_duplicate")
    headers = {"Stripe-Signature": stack.stripe.sign(body)}

    responses = await asyncio.gather(*(stack.webhook("stripe", body, headers) for _ in range(10)))
    assert [r.status_code for r in responses] == [200] * 10
    outcomes = sorted(r.json()["outcome"] for r in responses)
    assert outcomes == ["duplicate"] * 9 + ["payment succeeded"]

    await eventually(lambda: stack.courses.activations == [checkout.id])
    await asyncio.sleep(0.5)  # give any second delivery the chance to show up
    assert len(stack.courses.operations("completePaidEnrollment")) == 1
    payment = (await stack.payment(checkout.token, checkout.id)).ok()["payment"]
    assert payment["status"] == "SUCCEEDED"


async def test_verify_and_webhook_racing_complete_once(stack: Stack) -> None:
    for _ in range(3):
        stack.courses.calls.clear()
        checkout = await start(stack)
        stack.stripe.succeed(checkout.intent_id)
        body = await succeeded_webhook(stack, checkout.intent_id)
        headers = {"Stripe-Signature": stack.stripe.sign(body)}
        verified, hooked, *_ = await asyncio.gather(
            stack.verify(checkout.token, checkout.id, checkout.intent_id),
            stack.webhook("stripe", body, headers),
            stack.verify(checkout.token, checkout.id, checkout.intent_id),
        )
        assert verified.ok()["verifyPayment"]["status"] == "SUCCEEDED"
        assert hooked.status_code == 200
        await eventually(partial(contains, stack.courses.activations, checkout.id))
        await asyncio.sleep(0.3)
        completions = stack.courses.operations("completePaidEnrollment")
        assert [v["paymentId"] for v in completions] == [checkout.id]
    assert len(stack.courses.activations) == 3


async def test_forged_or_stale_signatures_are_refused(stack: Stack) -> None:
    checkout = await start(stack)
    stack.stripe.succeed(checkout.intent_id)
    body = await succeeded_webhook(stack, checkout.intent_id)
    refused = {
        "wrong secret": stack.stripe.sign(body, secret="whsec_guess"),
        "stale": stack.stripe.sign(body, timestamp=int(time.time()) - 301),
        "malformed": "t=abc,v1=zz",
    }
    for reason, header in refused.items():
        response = await stack.webhook("stripe", body, {"Stripe-Signature": header})
        assert response.status_code == 400, reason
    tampered = body.replace(b'"amount":4999', b'"amount":1')
    response = await stack.webhook(
        "stripe", tampered, {"Stripe-Signature": stack.stripe.sign(body)}
    )
    assert response.status_code == 400
    response = await stack.webhook("stripe", body, {})
    assert response.status_code == 400

    payment = (await stack.payment(checkout.token, checkout.id)).ok()["payment"]
    assert payment["status"] == "PENDING"
    assert stack.courses.calls == [
        ("coursePricing", {"courseId": checkout.payment["course"]["id"]}),
        (
            "viewerProgress",
            {
                "userId": checkout.payment["user"]["id"],
                "courseId": checkout.payment["course"]["id"],
            },
        ),
    ]

    # The same event, correctly signed, is then accepted: nothing was recorded before.
    response = await stack.webhook("stripe", body, {"Stripe-Signature": stack.stripe.sign(body)})
    assert response.json()["outcome"] == "payment succeeded"


async def test_verify_refuses_an_intent_that_is_not_this_payments(stack: Stack) -> None:
    mine, other = await start(stack), await start(stack)
    stack.stripe.succeed(other.intent_id)
    result = await stack.verify(mine.token, mine.id, other.intent_id)
    assert result.code == "PAYMENT_FAILED"
    pending = await stack.verify(mine.token, mine.id, mine.intent_id)
    assert pending.ok()["verifyPayment"]["status"] == "PENDING"
    assert stack.courses.activations == []


async def test_a_charge_of_another_amount_grants_nothing(stack: Stack) -> None:
    checkout = await start(stack)
    stack.stripe.succeed(checkout.intent_id, amount=100)
    result = await stack.verify(checkout.token, checkout.id, checkout.intent_id)
    assert result.code == "PAYMENT_FAILED"
    body = await succeeded_webhook(stack, checkout.intent_id)
    response = await stack.webhook("stripe", body, {"Stripe-Signature": stack.stripe.sign(body)})
    assert response.json()["outcome"] == "amount mismatch"
    payment = (await stack.payment(checkout.token, checkout.id)).ok()["payment"]
    assert payment["status"] == "PENDING"
    assert stack.courses.activations == []


async def test_declined_card_webhook_fails_the_payment(stack: Stack) -> None:
    checkout = await start(stack)
    intent = stack.stripe.decline(checkout.intent_id)
    body = stack.stripe.event("payment_intent.payment_failed", intent)
    response = await stack.webhook("stripe", body, {"Stripe-Signature": stack.stripe.sign(body)})
    assert response.json()["outcome"] == "payment failed"
    payment = (await stack.payment(checkout.token, checkout.id)).ok()["payment"]
    assert payment["status"] == "FAILED"


async def test_stripe_refund_twice_refunds_once(stack: Stack) -> None:
    checkout = await start(stack, price=10000)
    stack.stripe.succeed(checkout.intent_id)
    await stack.verify(checkout.token, checkout.id, checkout.intent_id)
    enrollment = stack.courses.by_payment(checkout.id)
    assert enrollment is not None
    enrollment.progress = 25.5

    first, second = await asyncio.gather(
        stack.refund(checkout.token, checkout.id, reason="changed my mind"),
        stack.refund(checkout.token, checkout.id, reason="changed my mind"),
    )
    refund = first.ok()["requestRefund"]
    assert second.ok()["requestRefund"]["id"] == refund["id"]
    # 100.00 * (1 - 0.255) = 74.50
    assert refund["amount"] == {"amount": "74.50", "currency": "USD"}
    assert refund["status"] == "SUCCEEDED"
    third = (await stack.refund(checkout.token, checkout.id)).ok()["requestRefund"]
    assert third["id"] == refund["id"]
    assert len(stack.stripe.refunds) == 1
    assert next(iter(stack.stripe.refunds.values()))["amount"] == 7450

    payment = (await stack.payment(checkout.token, checkout.id)).ok()["payment"]
    assert payment["status"] == "PARTIALLY_REFUNDED"
    assert payment["refundedAmount"] == {"amount": "74.50", "currency": "USD"}
    assert [r["id"] for r in payment["refunds"]] == [refund["id"]]
    await eventually(lambda: enrollment.status == "DROPPED")

    # Stripe's charge.refunded for the same refund changes nothing more.
    stripe_refund = next(iter(stack.stripe.refunds.values()))
    charge = {
        "id": stack.stripe.intents[checkout.intent_id]["latest_charge"],
        "object": "charge",
        "payment_intent": checkout.intent_id,
        "currency": "usd",
        "amount_refunded": 7450,
        "refunds": {"data": [stripe_refund]},
    }
    body = stack.stripe.event("charge.refunded", charge)
    response = await stack.webhook("stripe", body, {"Stripe-Signature": stack.stripe.sign(body)})
    assert response.json()["outcome"] == "refund recorded"
    payment = (await stack.payment(checkout.token, checkout.id)).ok()["payment"]
    assert payment["refundedAmount"]["amount"] == "74.50"
    assert len(stack.courses.operations("dropEnrollmentForPayment")) == 1


async def test_other_events_and_unknown_payments_are_acknowledged(stack: Stack) -> None:
    body = stack.stripe.event("customer.created", {"id": "cus_1", "object": "customer"})
    response = await stack.webhook("stripe", body, {"Stripe-Signature": stack.stripe.sign(body)})
    assert (response.status_code, response.json()["outcome"]) == (200, "ignored")

    stranger = {"id": "pi_unknown", "object": "payment_intent", "amount": 1, "currency": "usd"}
    body = stack.stripe.event("payment_intent.succeeded", stranger)
    response = await stack.webhook("stripe", body, {"Stripe-Signature": stack.stripe.sign(body)})
    assert (response.status_code, response.json()["outcome"]) == (200, "unknown payment")
    assert stack.courses.calls == []


async def test_a_webhook_naming_two_payments_changes_neither(stack: Stack) -> None:
    """Case 4 of issue 12: the intent of one payment with the charge of another matched
    whichever row `LIMIT 1` found first. Now each is unique, and such an event matches
    no payment."""
    paid, pending = await start(stack), await start(stack)
    stack.stripe.succeed(paid.intent_id)
    first = await succeeded_webhook(stack, paid.intent_id)
    await stack.webhook("stripe", first, {"Stripe-Signature": stack.stripe.sign(first)})
    charge = stack.stripe.intents[paid.intent_id]["latest_charge"]

    intent = dict(stack.stripe.intents[pending.intent_id], status="succeeded")
    intent["latest_charge"] = charge
    body = stack.stripe.event("payment_intent.succeeded", intent)
    response = await stack.webhook("stripe", body, {"Stripe-Signature": stack.stripe.sign(body)})
    assert response.status_code == 200
    assert response.json()["outcome"] == "unknown payment"
    payment = (await stack.payment(pending.token, pending.id)).ok()["payment"]
    assert payment["status"] == "PENDING"
    assert stack.courses.activations == [paid.id]

    # The charge id cannot be given to a second payment of the same provider at all.
    result = await _sql_error(
        stack,
        "UPDATE payments.payments SET gateway_payment_id = $1 WHERE id = $2",
        charge,
        uuid.UUID(pending.id),
    )
    assert "uq_payments_gateway_payment_id" in result


async def _sql_error(stack: Stack, statement: str, *args: object) -> str:
    url = stack.settings.database_url_for("payments").replace("postgresql+asyncpg", "postgresql")
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement, *args)
    except asyncpg.UniqueViolationError as error:
        return str(error)
    finally:
        await connection.close()
    return ""
