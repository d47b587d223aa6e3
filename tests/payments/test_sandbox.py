"""The built-in sandbox provider end to end: checkout page, settle, verify, webhook."""

from __future__ import annotations

import asyncpg
import httpx
import orjson

from contracts.events import EventPayload, parse
from contracts.events.payments import PaymentFailed, PaymentSucceeded
from coursegraph.events import Event
from tests.helpers import gql
from tests.payments.conftest import Stack, eventually

USER_PAYMENTS = """
query($reps: [_Any!]!) {
  _entities(representations: $reps) { ... on User { id payments { id status } } }
}"""


async def _settle(url: str, outcome: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(url, json={"outcome": outcome})


async def test_sandbox_paid_enrollment_flow(stack: Stack) -> None:
    course = stack.course(price_minor=4999, currency="USD")
    user_id, token = stack.token()

    created = (await stack.create(token, course.id, "SANDBOX")).ok()["createPayment"]
    assert created["status"] == "PENDING"
    assert created["amount"] == {"amount": "49.99", "currency": "USD"}
    assert created["refundedAmount"] == {"amount": "0.00", "currency": "USD"}
    assert created["user"] == {"id": user_id}
    assert created["course"] == {"id": course.id}
    checkout = created["checkout"]
    assert checkout["provider"] == "SANDBOX"
    assert checkout["sandboxUrl"].startswith(f"{stack.url}/sandbox/checkout/")
    assert checkout["expiresAt"]

    async with httpx.AsyncClient(timeout=30) as client:
        page = await client.get(checkout["sandboxUrl"])
    assert page.status_code == 200
    assert "49.99 USD" in page.text
    assert "Pay" in page.text
    assert "Decline" in page.text

    settled = await _settle(checkout["sandboxUrl"], "succeeded")
    assert settled.status_code == 200
    proof = settled.json()
    # Settling twice with the same outcome answers the same proof.
    assert (await _settle(checkout["sandboxUrl"], "succeeded")).json() == proof
    assert (await _settle(checkout["sandboxUrl"], "failed")).status_code == 409

    verified = await stack.verify(
        token, created["id"], proof["gatewayPaymentId"], proof["signature"]
    )
    payment = verified.ok()["verifyPayment"]
    assert payment["status"] == "SUCCEEDED"
    assert payment["succeededAt"]
    assert payment["checkout"] is None
    # verifyPayment delivers the completion before it answers.
    assert stack.courses.activations == [created["id"]]

    # The sandbox's own signed webhook arrives too, and changes nothing more.
    await eventually(
        lambda: any(
            v.get("paymentId") == created["id"]
            for v in stack.courses.operations("completePaidEnrollment")
        )
    )
    await _wait_for_sandbox_webhook(stack)
    assert stack.courses.activations == [created["id"]]
    assert len(stack.courses.operations("completePaidEnrollment")) == 1
    (succeeded,) = await _announced(stack, created["id"])
    assert succeeded == PaymentSucceeded(
        paymentId=created["id"],
        userId=user_id,
        courseId=course.id,
        amountMinor=4999,
        currency="USD",
        provider="SANDBOX",
    )

    listed = await gql(
        stack.graphql,
        USER_PAYMENTS,
        {"reps": [{"__typename": "User", "id": user_id}]},
        token=token,
    )
    assert listed.ok()["_entities"] == [
        {"id": user_id, "payments": [{"id": created["id"], "status": "SUCCEEDED"}]}
    ]


async def _announced(stack: Stack, payment_id: str) -> list[EventPayload]:
    """The public events payments wrote about this payment, each as its contract reads it."""
    url = stack.settings.database_url_for("payments").replace("postgresql+asyncpg", "postgresql")
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT id, topic, version, payload FROM payments.outbox"
            " WHERE payload->>'paymentId' = $1 ORDER BY created_at",
            payment_id,
        )
    finally:
        await connection.close()
    return [
        parse(Event(str(r["id"]), r["topic"], orjson.loads(r["payload"]), r["version"]))
        for r in rows
    ]


async def _wait_for_sandbox_webhook(stack: Stack) -> None:
    url = stack.settings.database_url_for("payments").replace("postgresql+asyncpg", "postgresql")

    async def received() -> bool:
        connection = await asyncpg.connect(url)
        try:
            count = await connection.fetchval(
                "SELECT count(*) FROM payments.webhook_events WHERE provider = 'SANDBOX'"
            )
        finally:
            await connection.close()
        return bool(count)

    await eventually(received)


async def test_declined_sandbox_payment_fails_and_enrolls_nobody(stack: Stack) -> None:
    course = stack.course()
    _, token = stack.token()
    created = (await stack.create(token, course.id, "SANDBOX")).ok()["createPayment"]
    proof = (await _settle(created["checkout"]["sandboxUrl"], "failed")).json()

    verified = await stack.verify(
        token, created["id"], proof["gatewayPaymentId"], proof["signature"]
    )
    assert verified.code == "PAYMENT_FAILED"
    payment = (await stack.payment(token, created["id"])).ok()["payment"]
    assert payment["status"] == "FAILED"
    await _wait_for_sandbox_webhook(stack)
    assert stack.courses.activations == []
    # Declined by the verify call and by the webhook: announced once.
    (failed,) = await _announced(stack, created["id"])
    assert isinstance(failed, PaymentFailed)
    assert (failed.provider, failed.amountMinor, failed.reason) == (
        "SANDBOX",
        4999,
        "Declined in the sandbox.",
    )

    # A new attempt creates a new payment rather than reusing the failed one.
    again = (await stack.create(token, course.id, "SANDBOX")).ok()["createPayment"]
    assert again["id"] != created["id"]
    assert again["status"] == "PENDING"


async def test_forged_sandbox_proof_changes_nothing(stack: Stack) -> None:
    course = stack.course()
    _, token = stack.token()
    created = (await stack.create(token, course.id, "SANDBOX")).ok()["createPayment"]

    forged = await stack.verify(token, created["id"], "sbx_pay_made_up", "0" * 64)
    assert forged.code == "PAYMENT_FAILED"

    body = b'{"id":"evt_forged","type":"payment.succeeded","data":{}}'
    response = await stack.webhook("sandbox", body, {"Sandbox-Signature": "t=1,v1=00"})
    assert response.status_code == 400

    payment = (await stack.payment(token, created["id"])).ok()["payment"]
    assert payment["status"] == "PENDING"
    assert stack.courses.activations == []


async def test_an_expired_sandbox_checkout_is_replaced(stack: Stack) -> None:
    course = stack.course()
    _, token = stack.token()
    first = (await stack.create(token, course.id, "SANDBOX")).ok()["createPayment"]
    url = stack.settings.database_url_for("payments").replace("postgresql+asyncpg", "postgresql")
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "UPDATE payments.payments SET checkout_expires_at = now() - interval '1 second'"
        )
        await connection.execute(
            "UPDATE payments.sandbox_checkouts SET expires_at = now() - interval '1 second'"
        )
    finally:
        await connection.close()
    assert (await _settle(first["checkout"]["sandboxUrl"], "succeeded")).status_code == 410

    second = (await stack.create(token, course.id, "SANDBOX")).ok()["createPayment"]
    assert second["id"] != first["id"]
    assert second["checkout"]["sandboxUrl"] != first["checkout"]["sandboxUrl"]
    assert (await stack.payment(token, first["id"])).ok()["payment"]["status"] == "CANCELED"
