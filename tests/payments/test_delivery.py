"""The completion reaches courses through the outbox, even when courses is down."""

from __future__ import annotations

import asyncio

import httpx

from tests.payments.conftest import Stack, eventually


async def test_courses_down_during_verify_completion_lands_later(stack: Stack) -> None:
    course = stack.course()
    _, token = stack.token()
    created = (await stack.create(token, course.id, "SANDBOX")).ok()["createPayment"]
    async with httpx.AsyncClient() as client:
        settled = await client.post(
            created["checkout"]["sandboxUrl"], json={"outcome": "succeeded"}
        )
    proof = settled.json()

    stack.courses.down = True
    verified = await stack.verify(
        token, created["id"], proof["gatewayPaymentId"], proof["signature"]
    )
    # The payment is settled and says so; the enrollment is owed, not lost.
    assert verified.ok()["verifyPayment"]["status"] == "SUCCEEDED"
    await asyncio.sleep(1.0)
    assert stack.courses.activations == []

    stack.courses.down = False
    await eventually(lambda: stack.courses.activations == [created["id"]], within=20)
    await asyncio.sleep(0.5)
    assert stack.courses.activations == [created["id"]]
    assert len(stack.courses.operations("completePaidEnrollment")) == 1
