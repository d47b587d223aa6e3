"""The paid enrollment flow across the real courses subgraph and payments, over HTTP,
with each provider: courses' enroll asks payments for the payment, payments completes
and drops the enrollment through courses' internal fields."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from coursegraph.testing import ServerThread
from tests.helpers import gql
from tests.payments.conftest import Stack, eventually, published_course

ENROLL = """
mutation($courseId: ID!, $provider: PaymentProvider) {
  enroll(courseId: $courseId, provider: $provider) {
    __typename
    ... on PaymentRequired { price { amount currency } payment { id } }
  }
}"""
PAYMENT_CHECKOUT = """
query($id: ID!) {
  payment(id: $id) {
    id status amount { amount currency }
    checkout { provider clientSecret orderId keyId sandboxUrl }
  }
}"""
ENROLLMENT_OF_PAYMENT = """
query($reps: [_Any!]!) {
  _entities(representations: $reps) { ... on Payment { enrollment { status } } }
}"""


async def _pay(stack: Stack, provider: str, checkout: dict[str, Any]) -> tuple[str, str | None]:
    """What the customer's browser or app does at the provider; the proof for verify."""
    if provider == "SANDBOX":
        async with httpx.AsyncClient() as client:
            proof = (
                await client.post(checkout["sandboxUrl"], json={"outcome": "succeeded"})
            ).json()
        return proof["gatewayPaymentId"], proof["signature"]
    if provider == "STRIPE":
        intent_id = checkout["clientSecret"].split("_secret_")[0]
        stack.stripe.succeed(intent_id)
        return intent_id, None
    return stack.razorpay.pay(checkout["orderId"])


@pytest.mark.parametrize(
    ("provider", "price", "shown"),
    [
        ("SANDBOX", {"amount": "49.99", "currency": "USD"}, "49.99"),
        ("STRIPE", {"amount": "1500", "currency": "JPY"}, "1500"),
        ("RAZORPAY", {"amount": "499", "currency": "INR"}, "499.00"),
    ],
)
async def test_paid_enrollment_across_courses_and_payments(
    stack: Stack, courses_server: ServerThread, provider: str, price: dict[str, str], shown: str
) -> None:
    stack.courses.forward_to = courses_server.url
    courses_url = f"{courses_server.url}/graphql"
    course_id = await published_course(stack, courses_url, price)
    _, student = stack.token()

    enrolled = await gql(
        courses_url, ENROLL, {"courseId": course_id, "provider": provider}, token=student
    )
    required = enrolled.ok()["enroll"]
    assert required["__typename"] == "PaymentRequired"
    payment_id = required["payment"]["id"]
    # router → courses → payments and back: payments called courses for nothing.
    assert stack.courses.calls == []

    payment = (await gql(stack.graphql, PAYMENT_CHECKOUT, {"id": payment_id}, token=student)).ok()[
        "payment"
    ]
    assert payment["amount"] == {"amount": shown, "currency": price["currency"]}
    assert payment["checkout"]["provider"] == provider

    gateway_id, signature = await _pay(stack, provider, payment["checkout"])
    verified = await stack.verify(student, payment_id, gateway_id, signature)
    assert verified.ok()["verifyPayment"]["status"] == "SUCCEEDED"

    reps = {"reps": [{"__typename": "Payment", "id": payment_id}]}
    entity = await gql(courses_url, ENROLLMENT_OF_PAYMENT, reps, token=student)
    assert entity.ok()["_entities"] == [{"enrollment": {"status": "ACTIVE"}}]

    refund = (await stack.refund(student, payment_id)).ok()["requestRefund"]
    assert refund["amount"] == {"amount": shown, "currency": price["currency"]}

    async def dropped() -> bool:
        result = await gql(courses_url, ENROLLMENT_OF_PAYMENT, reps, token=student)
        return bool(result.ok()["_entities"] == [{"enrollment": {"status": "DROPPED"}}])

    await eventually(dropped)
