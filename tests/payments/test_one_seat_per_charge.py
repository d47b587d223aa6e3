"""I1 and I5 across the real courses subgraph and payments: a charge is kept only while
it holds exactly one seat; superseded checkouts are closed at the provider; every other
settled charge is refunded in full, and the payment says why (issue 12, case 3)."""

from __future__ import annotations

from typing import Any

import httpx

from coursegraph.testing import ServerThread
from tests.helpers import gql
from tests.payments.conftest import Stack, eventually, published_course

ENROLL = """
mutation($c: ID!, $p: PaymentProvider!) { enroll(courseId: $c, provider: $p) {
  ... on PaymentRequired { payment { id } } } }"""
PAYMENT = """
query($id: ID!) { payment(id: $id) {
  status closedReason amount { amount } refundedAmount { amount }
  refunds { status reason amount { amount } }
  checkout { sandboxUrl clientSecret orderId } } }"""
UPDATE_PRICE = """
mutation($id: ID!, $price: MoneyInput) { updateCourse(id: $id, input: {price: $price}) { id } }"""
MINE = "{ myEnrollments { status payment { id } } }"


class Student:
    def __init__(self, stack: Stack, courses: str) -> None:
        self.stack, self.courses = stack, courses
        _, self.token = stack.token()

    async def checkout(self, course_id: str, provider: str) -> str:
        result = await gql(self.courses, ENROLL, {"c": course_id, "p": provider}, token=self.token)
        payment_id: str = result.ok()["enroll"]["payment"]["id"]
        return payment_id

    async def payment(self, payment_id: str) -> dict[str, Any]:
        result = await gql(self.stack.graphql, PAYMENT, {"id": payment_id}, token=self.token)
        payment: dict[str, Any] = result.ok()["payment"]
        return payment

    async def pay(self, payment_id: str, provider: str, checkout: dict[str, Any]) -> str:
        """Pay at the provider and verify; the payment's status afterwards."""
        signature: str | None = None
        if provider == "SANDBOX":
            async with httpx.AsyncClient() as client:
                proof = (
                    await client.post(checkout["sandboxUrl"], json={"outcome": "succeeded"})
                ).json()
            gateway_id, signature = proof["gatewayPaymentId"], proof["signature"]
        elif provider == "STRIPE":
            gateway_id = checkout["clientSecret"].split("_secret_")[0]
            self.stack.stripe.succeed(gateway_id)
        else:
            gateway_id, signature = self.stack.razorpay.pay(checkout["orderId"])
        verified = await self.stack.verify(self.token, payment_id, gateway_id, signature)
        status: str = verified.ok()["verifyPayment"]["status"]
        return status

    async def seats(self) -> list[tuple[str, str | None]]:
        rows = (await gql(self.courses, MINE, token=self.token)).ok()["myEnrollments"]
        return [(r["status"], (r["payment"] or {}).get("id")) for r in rows]

    async def refunded(self, payment_id: str, reason: str) -> dict[str, Any]:
        async def done() -> bool:
            return (await self.payment(payment_id))["status"] == "REFUNDED"

        await eventually(done, within=20)
        payment = await self.payment(payment_id)
        assert payment["closedReason"] == reason
        assert payment["refundedAmount"] == payment["amount"]
        [refund] = payment["refunds"]
        assert (refund["status"], refund["amount"]) == ("SUCCEEDED", payment["amount"])
        return payment


async def _course(stack: Stack, server: ServerThread) -> tuple[str, str, str]:
    stack.courses.forward_to = server.url
    courses = f"{server.url}/graphql"
    _, teacher = stack.token(role="TEACHER")
    course_id = await published_course(
        stack, courses, {"amount": "10.00", "currency": "USD"}, teacher
    )
    return courses, course_id, teacher


async def _set_price(courses: str, teacher: str, course_id: str, amount: str | None) -> None:
    price = {"amount": amount, "currency": "USD"} if amount else None
    (await gql(courses, UPDATE_PRICE, {"id": course_id, "price": price}, token=teacher)).ok()


async def test_a_price_change_closes_the_open_checkout_at_every_provider(
    stack: Stack, courses_server: ServerThread
) -> None:
    """Case 3: the price goes 10.00 → 50.00 while a checkout is open. The old checkout is
    closed (sandbox: 410; Stripe: intent canceled); a Razorpay order cannot be closed, so
    its late capture is refunded in full. One seat, one kept charge."""
    courses, course_id, teacher = await _course(stack, courses_server)
    for provider in ("SANDBOX", "STRIPE", "RAZORPAY"):
        await _set_price(courses, teacher, course_id, "10.00")
        student = Student(stack, courses)
        old_id = await student.checkout(course_id, provider)
        old_checkout = (await student.payment(old_id))["checkout"]
        await _set_price(courses, teacher, course_id, "50.00")
        new_id = await student.checkout(course_id, provider)
        old = await student.payment(old_id)
        assert (old["status"], old["closedReason"]) == ("CANCELED", "SUPERSEDED")

        if provider == "SANDBOX":
            async with httpx.AsyncClient() as client:
                late = await client.post(old_checkout["sandboxUrl"], json={"outcome": "succeeded"})
            assert late.status_code == 410
        elif provider == "STRIPE":
            intent_id = old_checkout["clientSecret"].split("_secret_")[0]
            assert stack.stripe.intents[intent_id]["status"] == "canceled"
        else:
            # The customer still pays the old order: the capture settles, then goes back.
            await student.pay(old_id, provider, old_checkout)
            await student.refunded(old_id, "SUPERSEDED")

        new_checkout = (await student.payment(new_id))["checkout"]
        assert await student.pay(new_id, provider, new_checkout) == "SUCCEEDED"
        held = [seat for seat in await student.seats() if seat[0] != "DROPPED"]
        assert held == [("ACTIVE", new_id)]
        assert (await student.payment(new_id))["status"] == "SUCCEEDED"


async def test_two_charges_for_one_seat_keep_one_and_refund_the_other(
    stack: Stack, courses_server: ServerThread
) -> None:
    courses, course_id, _ = await _course(stack, courses_server)
    student = Student(stack, courses)
    first = await student.checkout(course_id, "SANDBOX")
    second = await student.checkout(course_id, "STRIPE")
    checkouts = {p: (await student.payment(p))["checkout"] for p in (first, second)}
    assert await student.pay(first, "SANDBOX", checkouts[first]) == "SUCCEEDED"
    assert await student.pay(second, "STRIPE", checkouts[second]) == "SUCCEEDED"

    await student.refunded(second, "DUPLICATE")
    assert (await student.payment(first))["status"] == "SUCCEEDED"
    assert sorted(await student.seats()) == [("ACTIVE", first), ("DROPPED", second)]


async def test_a_checkout_paid_after_the_course_turned_free_is_refunded(
    stack: Stack, courses_server: ServerThread
) -> None:
    courses, course_id, teacher = await _course(stack, courses_server)
    student = Student(stack, courses)
    payment_id = await student.checkout(course_id, "SANDBOX")
    checkout = (await student.payment(payment_id))["checkout"]
    await _set_price(courses, teacher, course_id, None)

    assert await student.pay(payment_id, "SANDBOX", checkout) == "SUCCEEDED"
    await student.refunded(payment_id, "COURSE_FREE")
    # The student keeps a free seat; the charge holds none.
    assert sorted(await student.seats(), key=str) == [("ACTIVE", None), ("DROPPED", payment_id)]
