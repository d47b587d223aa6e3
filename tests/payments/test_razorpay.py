"""Razorpay through the real (blocking) SDK against a local stand-in, real signatures."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from tests.payments.conftest import Stack, eventually


async def start(stack: Stack, price: int = 49900) -> tuple[dict[str, Any], str]:
    course = stack.course(price_minor=price, currency="INR")
    _, token = stack.token()
    created = (await stack.create(token, course.id, "RAZORPAY")).ok()["createPayment"]
    return created, token


def webhook_headers(stack: Stack, body: bytes, event_id: str | None = None) -> dict[str, str]:
    return {
        "X-Razorpay-Signature": stack.razorpay.sign(body),
        "X-Razorpay-Event-Id": event_id or f"evt_{secrets.token_hex(7)}",
    }


async def test_razorpay_happy_path(stack: Stack) -> None:
    created, token = await start(stack)
    checkout = created["checkout"]
    assert checkout["provider"] == "RAZORPAY"
    assert checkout["keyId"] == "rzp_test_coursegraph"
    order = stack.razorpay.orders[checkout["orderId"]]
    # INR in paise: 499.00 rupees.
    assert (order["amount"], order["currency"]) == (49900, "INR")
    assert created["amount"] == {"amount": "499.00", "currency": "INR"}
    assert order["receipt"] == f"payment-{created['id']}"

    payment_id, signature = stack.razorpay.pay(checkout["orderId"])
    verified = (await stack.verify(token, created["id"], payment_id, signature)).ok()
    assert verified["verifyPayment"]["status"] == "SUCCEEDED"
    assert stack.courses.activations == [created["id"]]

    body = stack.razorpay.event("payment.captured", payment_id)
    response = await stack.webhook("razorpay", body, webhook_headers(stack, body))
    assert response.status_code == 200
    assert response.json()["outcome"] == "no change"

    refund = (await stack.refund(token, created["id"])).ok()["requestRefund"]
    assert refund["amount"] == {"amount": "499.00", "currency": "INR"}
    assert refund["status"] == "SUCCEEDED"
    assert len(stack.razorpay.refunds) == 1
    payment = (await stack.payment(token, created["id"])).ok()["payment"]
    assert payment["status"] == "REFUNDED"

    rz_refund = next(iter(stack.razorpay.refunds.values()))
    body = stack.razorpay.event("refund.processed", payment_id, rz_refund)
    response = await stack.webhook("razorpay", body, webhook_headers(stack, body))
    assert response.json()["outcome"] == "refund recorded"
    enrollment = stack.courses.by_payment(created["id"])
    assert enrollment is not None
    await eventually(lambda: enrollment.status == "DROPPED")


async def test_razorpay_webhook_completes_once_and_forgeries_fail(stack: Stack) -> None:
    created, token = await start(stack)
    payment_id, _ = stack.razorpay.pay(created["checkout"]["orderId"])
    body = stack.razorpay.event("payment.captured", payment_id)

    forged = {
        "X-Razorpay-Signature": stack.razorpay.sign(body, "guess"),
        "X-Razorpay-Event-Id": "e1",
    }
    assert (await stack.webhook("razorpay", body, forged)).status_code == 400
    unsigned = {"X-Razorpay-Event-Id": "e1"}
    assert (await stack.webhook("razorpay", body, unsigned)).status_code == 400
    payment = (await stack.payment(token, created["id"])).ok()["payment"]
    assert payment["status"] == "PENDING"

    headers = webhook_headers(stack, body, event_id="evt_same")
    responses = await asyncio.gather(*(stack.webhook("razorpay", body, headers) for _ in range(10)))
    assert all(r.status_code == 200 for r in responses)
    await eventually(lambda: stack.courses.activations == [created["id"]])
    await asyncio.sleep(0.3)
    assert len(stack.courses.operations("completePaidEnrollment")) == 1


async def test_razorpay_verify_checks_the_checkout_signature(stack: Stack) -> None:
    created, token = await start(stack)
    payment_id, signature = stack.razorpay.pay(created["checkout"]["orderId"])
    bad = await stack.verify(token, created["id"], payment_id, "0" * 64)
    assert bad.code == "PAYMENT_FAILED"
    missing = await stack.verify(token, created["id"], payment_id)
    assert missing.code == "PAYMENT_FAILED"
    # A genuine payment of another order, with its genuine signature, is not this one's.
    other, _ = await start(stack)
    other_payment, other_signature = stack.razorpay.pay(other["checkout"]["orderId"])
    crossed = await stack.verify(token, created["id"], other_payment, other_signature)
    assert crossed.code == "PAYMENT_FAILED"
    payment = (await stack.payment(token, created["id"])).ok()["payment"]
    assert payment["status"] == "PENDING"
    assert stack.courses.activations == []
    assert signature
