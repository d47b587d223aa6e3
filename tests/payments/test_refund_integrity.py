"""Issue 12, cases 1 and 2, across the real courses subgraph and payments over HTTP:
a refund racing progress and a certificate, and a refund racing a late completion."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from coursegraph.testing import ServerThread
from subgraphs.payments.refunds import prorated_refund
from tests.helpers import gql
from tests.payments.conftest import Stack, eventually, published_course

ENROLL = """
mutation($c: ID!) { enroll(courseId: $c, provider: SANDBOX) {
  ... on PaymentRequired { payment { id } } } }"""
CHECKOUT = "query($id: ID!) { payment(id: $id) { status checkout { sandboxUrl } } }"
MINE = """{ myEnrollments {
  id status progressPercentage payment { id } certificate { code valid revokedAt } } }"""
PROGRESS = """
mutation($c: ID!) { updateProgress(courseId: $c, progressPercentage: 100, totalWatchTime: 60) {
  id } }"""
CERTIFICATE = "mutation($e: ID!) { issueCertificate(enrollmentId: $e) { code } }"
REGISTER = """
mutation($i: RegisterInput!) { register(input: $i) { accessToken } }"""
VERIFY_CERTIFICATE = "query($c: String!) { verifyCertificate(code: $c) { valid revokedAt } }"
PRICE = {"amount": "10.00", "currency": "USD"}


async def _student(stack: Stack) -> str:
    """A real account (certificates name the student), signed in."""
    email = f"student-{uuid.uuid4().hex[:10]}@example.com"
    account = {"email": email, "password": "correct horse", "name": "Sam Student"}
    result = await gql(f"{stack.settings.users_url}/graphql", REGISTER, {"i": account})
    token: str = result.ok()["register"]["accessToken"]
    return token


async def _checkout(stack: Stack, courses: str, token: str, course_id: str) -> tuple[str, str]:
    enrolled = (await gql(courses, ENROLL, {"c": course_id}, token=token)).ok()
    payment_id: str = enrolled["enroll"]["payment"]["id"]
    payment = (await gql(stack.graphql, CHECKOUT, {"id": payment_id}, token=token)).ok()
    return payment_id, payment["payment"]["checkout"]["sandboxUrl"]


async def _settle(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        proof: dict[str, Any] = (await client.post(url, json={"outcome": "succeeded"})).json()
    return proof


async def _mine(courses: str, token: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (await gql(courses, MINE, token=token)).ok()["myEnrollments"]
    return rows


async def _finish_course(
    courses: str, token: str, course_id: str, enrollment_id: str, delay: float
) -> None:
    await asyncio.sleep(delay)
    await gql(courses, PROGRESS, {"c": course_id}, token=token)
    await gql(courses, CERTIFICATE, {"e": enrollment_id}, token=token)


async def _outbox(stack: Stack, statement: str, *args: object) -> Any:
    url = stack.settings.database_url_for("payments").replace("postgresql+asyncpg", "postgresql")
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(statement, *args)
    finally:
        await connection.close()


async def test_refund_racing_progress_and_certificate_keeps_money_and_seat_consistent(
    stack: Stack, courses_server: ServerThread
) -> None:
    """Case 1: refund, then ~0-50 ms later progress 100 and a certificate. Either the
    course was finished first (no refund; the seat is not left frozen), or the refund
    priced the seat it froze and the seat ends DROPPED with no valid certificate; never
    a full refund and a diploma."""
    stack.courses.forward_to = courses_server.url
    courses = f"{courses_server.url}/graphql"
    for delay in (0.0, 0.01, 0.02, 0.05):
        course_id = await published_course(stack, courses, PRICE)
        token = await _student(stack)
        payment_id, url = await _checkout(stack, courses, token, course_id)
        proof = await _settle(url)
        verified = await stack.verify(
            token, payment_id, proof["gatewayPaymentId"], proof["signature"]
        )
        assert verified.ok()["verifyPayment"]["status"] == "SUCCEEDED"
        [seat] = await _mine(courses, token)
        assert seat["status"] == "ACTIVE"

        refund, _ = await asyncio.gather(
            stack.refund(token, payment_id),
            _finish_course(courses, token, course_id, seat["id"], delay),
        )
        if refund.errors:
            assert refund.code == "CONFLICT"
            [row] = await _mine(courses, token)
            assert row["status"] == "COMPLETED"
            # Refused at 100 % (or after the certificate): the seat is not left frozen.
            issued = await gql(courses, CERTIFICATE, {"e": seat["id"]}, token=token)
            assert issued.ok()["issueCertificate"]["code"]
            continue
        amount = Decimal(refund.ok()["requestRefund"]["amount"]["amount"])

        async def dropped(token: str = token) -> bool:
            return [r["status"] for r in await _mine(courses, token)] == ["DROPPED"]

        await eventually(dropped)
        [row] = await _mine(courses, token)
        # The amount is the one the seat's final progress gives: nothing moved after it.
        expected = prorated_refund(1000, Decimal(str(row["progressPercentage"])))
        assert amount * 100 == expected, (delay, amount, row)
        assert row["certificate"] is None or row["certificate"]["valid"] is False


async def test_refund_before_a_late_completion_leaves_no_seat(
    stack: Stack, courses_server: ServerThread
) -> None:
    """Case 2: courses is down while the checkout settles, the completion waits in the
    outbox, courses returns, the student refunds at once, then the completion lands."""
    stack.courses.forward_to = courses_server.url
    courses = f"{courses_server.url}/graphql"
    course_id = await published_course(stack, courses, PRICE)
    token = await _student(stack)
    payment_id, url = await _checkout(stack, courses, token, course_id)

    stack.courses.down = True
    await _settle(url)  # the sandbox's webhook settles the payment

    async def succeeded() -> bool:
        payment = (await stack.payment(token, payment_id)).ok()["payment"]
        return bool(payment["status"] == "SUCCEEDED")

    await eventually(succeeded)
    key = f"payment:{payment_id}:succeeded"
    attempts = "SELECT attempts FROM payments.outbox WHERE dedupe_key = $1"
    await eventually(lambda: _holds(stack, attempts, key))
    stack.courses.down = False

    refund = (await stack.refund(token, payment_id)).ok()["requestRefund"]
    assert refund["amount"] == PRICE
    assert refund["status"] == "SUCCEEDED"

    # The delayed completion is due now; it must not make a seat for a refunded payment.
    await _outbox(
        stack, "UPDATE payments.outbox SET next_attempt_at = now() WHERE dedupe_key = $1", key
    )
    delivered = "SELECT delivered_at IS NOT NULL FROM payments.outbox WHERE dedupe_key = $1"

    await eventually(lambda: _holds(stack, delivered, key), within=20)
    refunded = f"payment:{payment_id}:refunded"
    await eventually(lambda: _holds(stack, delivered, refunded), within=20)
    rows = await _mine(courses, token)
    assert [r["status"] for r in rows] == ["DROPPED"]
    payment = (await stack.payment(token, payment_id)).ok()["payment"]
    assert payment["status"] == "REFUNDED"


async def _holds(stack: Stack, statement: str, key: str) -> bool:
    return bool(await _outbox(stack, statement, key))


async def test_an_admin_refund_after_a_certificate_revokes_it(
    stack: Stack, courses_server: ServerThread
) -> None:
    """I3: no refund after a certificate for the student; an ADMIN may refund anyway, and
    then `verifyCertificate` says the certificate is revoked."""
    stack.courses.forward_to = courses_server.url
    courses = f"{courses_server.url}/graphql"
    course_id = await published_course(stack, courses, PRICE)
    token = await _student(stack)
    payment_id, url = await _checkout(stack, courses, token, course_id)
    proof = await _settle(url)
    (await stack.verify(token, payment_id, proof["gatewayPaymentId"], proof["signature"])).ok()
    [seat] = await _mine(courses, token)
    await _finish_course(courses, token, course_id, seat["id"], 0.0)
    [seat] = await _mine(courses, token)
    code = seat["certificate"]["code"]

    refused = await stack.refund(token, payment_id)
    assert refused.code == "CONFLICT"
    assert "certificate" in refused.errors[0]["message"]
    _, admin = stack.token(role="ADMIN")
    amount = {"amount": "2.00", "currency": "USD"}
    refund = (await stack.refund(admin, payment_id, amount=amount)).ok()["requestRefund"]
    assert (refund["status"], refund["amount"]) == ("SUCCEEDED", amount)

    async def revoked() -> bool:
        result = await gql(courses, VERIFY_CERTIFICATE, {"c": code})
        return bool(result.ok()["verifyCertificate"]["valid"] is False)

    await eventually(revoked)
    [row] = await _mine(courses, token)
    assert row["status"] == "DROPPED"
    assert row["certificate"]["revokedAt"]
