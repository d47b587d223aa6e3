"""Refund rules: who, when, how much; the enrollment is dropped through the outbox."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx

from contracts.events.payments import PaymentRefunded
from tests.payments.conftest import Stack, eventually
from tests.payments.stubs import FakeEnrollment


async def paid(
    stack: Stack, price: int = 10000, currency: str = "USD"
) -> tuple[dict[str, Any], str, FakeEnrollment]:
    course = stack.course(price_minor=price, currency=currency)
    _, token = stack.token()
    created = (await stack.create(token, course.id, "SANDBOX")).ok()["createPayment"]
    async with httpx.AsyncClient() as client:
        proof = (
            await client.post(created["checkout"]["sandboxUrl"], json={"outcome": "succeeded"})
        ).json()
    verified = await stack.verify(
        token, created["id"], proof["gatewayPaymentId"], proof["signature"]
    )
    assert verified.ok()["verifyPayment"]["status"] == "SUCCEEDED"
    enrollment = stack.courses.by_payment(created["id"])
    assert enrollment is not None
    return created, token, enrollment


async def sql(stack: Stack, statement: str, *args: object) -> None:
    url = stack.settings.database_url_for("payments").replace("postgresql+asyncpg", "postgresql")
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement, *args)
    finally:
        await connection.close()


async def test_refund_is_prorated_and_drops_the_enrollment(stack: Stack) -> None:
    created, token, enrollment = await paid(stack, price=1500, currency="JPY")
    enrollment.progress = 33.3
    refund = (await stack.refund(token, created["id"], reason="  too   hard ")).ok()[
        "requestRefund"
    ]
    # 1500 * 0.667 = 1000.5 yen -> 1000 (JPY has no minor unit; rounded down)
    assert refund["amount"] == {"amount": "1000", "currency": "JPY"}
    assert refund["reason"] == "too hard"
    assert refund["status"] == "SUCCEEDED"
    payment = (await stack.payment(token, created["id"])).ok()["payment"]
    assert payment["status"] == "PARTIALLY_REFUNDED"
    await eventually(lambda: enrollment.status == "DROPPED")
    refunded = (await stack.announced(created["id"]))[-1]
    assert isinstance(refunded, PaymentRefunded)
    assert (refunded.refundId, refunded.amountMinor, refunded.currency) == (
        refund["id"],
        1000,
        "JPY",
    )


async def test_refund_twice_refunds_once(stack: Stack) -> None:
    created, token, enrollment = await paid(stack)
    results = await asyncio.gather(*(stack.refund(token, created["id"]) for _ in range(5)))
    ids = {r.ok()["requestRefund"]["id"] for r in results}
    assert len(ids) == 1
    payment = (await stack.payment(token, created["id"])).ok()["payment"]
    assert payment["status"] == "REFUNDED"
    assert payment["refundedAmount"]["amount"] == "100.00"
    assert len(payment["refunds"]) == 1
    await eventually(lambda: enrollment.status == "DROPPED")
    await asyncio.sleep(0.3)
    assert len(stack.courses.operations("dropEnrollmentForPayment")) == 1


async def test_no_refund_after_a_certificate_or_the_window(stack: Stack) -> None:
    created, token, enrollment = await paid(stack)
    enrollment.certificate_issued = True
    assert (await stack.refund(token, created["id"])).code == "CONFLICT"

    created, token, _ = await paid(stack)
    await sql(
        stack,
        "UPDATE payments.payments SET succeeded_at = now() - interval '31 days' WHERE id = $1",
        uuid.UUID(created["id"]),
    )
    result = await stack.refund(token, created["id"])
    assert result.code == "CONFLICT"
    assert "30 days" in result.errors[0]["message"]


async def test_nothing_to_refund_at_full_progress(stack: Stack) -> None:
    created, token, enrollment = await paid(stack)
    enrollment.progress = 100.0
    assert (await stack.refund(token, created["id"])).code == "CONFLICT"


async def test_only_an_admin_chooses_the_amount(stack: Stack) -> None:
    created, token, enrollment = await paid(stack)
    amount = {"amount": "12.34", "currency": "USD"}
    assert (await stack.refund(token, created["id"], amount=amount)).code == "FORBIDDEN"

    _, admin = stack.token(role="ADMIN")
    too_precise = {"amount": "12.345", "currency": "USD"}
    assert (await stack.refund(admin, created["id"], amount=too_precise)).code == "BAD_USER_INPUT"
    too_much = {"amount": "100.01", "currency": "USD"}
    assert (await stack.refund(admin, created["id"], amount=too_much)).code == "BAD_USER_INPUT"
    other_currency = {"amount": "1", "currency": "EUR"}
    assert (
        await stack.refund(admin, created["id"], amount=other_currency)
    ).code == "BAD_USER_INPUT"

    refund = (await stack.refund(admin, created["id"], amount=amount)).ok()["requestRefund"]
    assert refund["amount"] == amount
    payment = (await stack.payment(admin, created["id"])).ok()["payment"]
    assert payment["status"] == "PARTIALLY_REFUNDED"
    assert payment["refundedAmount"] == amount
    await eventually(lambda: enrollment.status == "DROPPED")


async def test_pending_payment_cannot_be_refunded(stack: Stack) -> None:
    course = stack.course()
    _, token = stack.token()
    created = (await stack.create(token, course.id, "SANDBOX")).ok()["createPayment"]
    assert (await stack.refund(token, created["id"])).code == "CONFLICT"


async def test_a_refund_the_provider_refuses_unfreezes_the_seat(stack: Stack) -> None:
    created, token, enrollment = await paid(stack)
    # The sandbox refuses a refund beyond what it captured.
    await sql(
        stack,
        "UPDATE payments.sandbox_checkouts SET refunded_minor = amount_minor WHERE reference = $1",
        f"payment-{created['id']}",
    )
    refused = await stack.refund(token, created["id"])
    assert refused.code == "PAYMENT_FAILED"
    assert enrollment.frozen is False
    assert enrollment.status == "ACTIVE"
    payment = (await stack.payment(token, created["id"])).ok()["payment"]
    assert payment["status"] == "SUCCEEDED"
    assert [r["status"] for r in payment["refunds"]] == ["FAILED"]

    # The refused refund leaves room for a new one, with a key of its own.
    await sql(
        stack,
        "UPDATE payments.sandbox_checkouts SET refunded_minor = 0 WHERE reference = $1",
        f"payment-{created['id']}",
    )
    enrollment.progress = 50.0
    refund = (await stack.refund(token, created["id"])).ok()["requestRefund"]
    assert (refund["status"], refund["amount"]["amount"]) == ("SUCCEEDED", "50.00")
    await eventually(lambda: enrollment.status == "DROPPED")
