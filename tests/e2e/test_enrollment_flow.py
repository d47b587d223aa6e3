"""Flow 1: browse → course page → enroll; paid courses through the sandbox, Stripe and
Razorpay; the webhook-only path; refund → DROPPED; enroll again."""

from __future__ import annotations

from functools import partial
from typing import Any

import httpx

from tests.e2e.client import Account, Api, eventually
from tests.e2e.scenario import Course, published_course, settle_sandbox, unique_word
from tests.e2e.stack import Stack
from tests.payments.stubs import RazorpayStub, StripeStub

PRICE = {"amount": "49.99", "currency": "USD"}


async def _enroll(api: Api, student: Account, course: Course, provider: str | None) -> Any:
    variables = {"courseId": course.id, "provider": provider}
    return (await api.data("Enroll", variables, token=student.token))["enroll"]


async def _payment(api: Api, student: Account, payment_id: str) -> dict[str, Any]:
    payment: dict[str, Any] = (await api.data("Payment", {"id": payment_id}, token=student.token))[
        "payment"
    ]
    return payment


def _enrollment_active(payment: dict[str, Any]) -> bool:
    return bool(payment["enrollment"]) and payment["enrollment"]["status"] == "ACTIVE"


async def _my_statuses(api: Api, student: Account, course: Course) -> list[str]:
    """The statuses of the student's enrollments in the course (a drop keeps its row)."""
    enrollments = (await api.data("MyLearning", token=student.token))["myEnrollments"]
    return sorted(e["status"] for e in enrollments if e["course"]["id"] == course.id)


async def test_browse_course_page_and_free_enrollment(api: Api) -> None:
    teacher = await api.sign_up("TEACHER")
    word = unique_word()
    course = await published_course(api, teacher, title=f"Free {word} course", lectures=2)
    student = await api.sign_up()

    catalog = (await api.data("Catalog", {"search": word, "first": 5}))["courses"]
    assert catalog["totalCount"] == 1
    card = catalog["edges"][0]["node"]
    assert card == {
        "id": course.id,
        "slug": course.slug,
        "title": course.title,
        "isFree": True,
        "price": None,
        "lectureCount": 2,
        "enrollmentCount": 0,
        "teacher": {"id": teacher.id, "name": teacher.name},
    }

    studio = (await api.data("MyCourses", token=teacher.token))["me"]["taughtCourses"]
    assert [(c["id"], c["status"]) for c in studio] == [(course.id, "PUBLISHED")]
    by_teacher = (await api.data("TeacherCatalog", {"teacherId": teacher.id}))["courses"]
    assert [edge["node"]["id"] for edge in by_teacher["edges"]] == [course.id]

    page = (await api.data("CoursePage", {"slug": course.slug}, token=student.token))["course"]
    assert page["id"] == course.id
    assert page["teacher"]["name"] == teacher.name
    assert [lecture["id"] for lecture in page["sections"][0]["lectures"]] == course.lecture_ids
    assert page["viewerEnrollment"] is None

    enrolled = await _enroll(api, student, course, None)
    assert enrolled["__typename"] == "Enrollment"
    assert enrolled["status"] == "ACTIVE"

    page = (await api.data("CoursePage", {"slug": course.slug}, token=student.token))["course"]
    assert page["viewerEnrollment"]["id"] == enrolled["id"]
    assert page["enrollmentCount"] == 1
    again = await api.op("Enroll", {"courseId": course.id}, token=student.token)
    assert again.code == "CONFLICT"


async def test_paid_course_with_the_sandbox_refund_and_enroll_again(api: Api) -> None:
    teacher = await api.sign_up("TEACHER")
    course = await published_course(api, teacher, price=PRICE)
    student = await api.sign_up()

    required = await _enroll(api, student, course, None)
    assert required["__typename"] == "PaymentRequired"
    assert required["price"] == PRICE
    assert required["payment"] is None

    required = await _enroll(api, student, course, "SANDBOX")
    payment = required["payment"]
    assert payment["status"] == "PENDING"
    proof = await settle_sandbox(payment["checkout"])
    verified = (
        await api.data(
            "VerifyPayment",
            {"paymentId": payment["id"], **proof},
            token=student.token,
        )
    )["verifyPayment"]
    assert verified["status"] == "SUCCEEDED"
    assert verified["amount"] == PRICE
    assert verified["checkout"] is None
    assert verified["enrollment"]["status"] == "ACTIVE"
    assert await _my_statuses(api, student, course) == ["ACTIVE"]

    refund = (
        await api.data(
            "RequestRefund",
            {"paymentId": payment["id"], "reason": "changed my mind"},
            token=student.token,
        )
    )["requestRefund"]
    assert refund["amount"] == PRICE  # no progress yet: the whole price
    assert refund["status"] == "SUCCEEDED"
    # The drop reaches courses through payments' outbox.
    await eventually(lambda: _my_statuses(api, student, course), lambda s: s == ["DROPPED"])
    refunded = await _payment(api, student, payment["id"])
    assert refunded["status"] == "REFUNDED"
    history = (await api.data("MyPayments", token=student.token))["me"]["payments"]
    assert [(p["id"], p["status"], p["refundedAmount"]) for p in history] == [
        (payment["id"], "REFUNDED", PRICE)
    ]
    assert [r["reason"] for r in history[0]["refunds"]] == ["changed my mind"]

    again = await _enroll(api, student, course, "SANDBOX")
    assert again["__typename"] == "PaymentRequired"
    second = again["payment"]
    assert second["id"] != payment["id"]
    proof = await settle_sandbox(second["checkout"])
    verified = (
        await api.data("VerifyPayment", {"paymentId": second["id"], **proof}, token=student.token)
    )["verifyPayment"]
    assert verified["enrollment"]["status"] == "ACTIVE"
    assert await _my_statuses(api, student, course) == ["ACTIVE", "DROPPED"]


async def test_paid_course_with_stripe(api: Api, stripe: tuple[StripeStub, str]) -> None:
    stub = stripe[0]
    teacher = await api.sign_up("TEACHER")
    course = await published_course(api, teacher, price=PRICE)
    student = await api.sign_up()

    payment = (await _enroll(api, student, course, "STRIPE"))["payment"]
    client_secret = payment["checkout"]["clientSecret"]
    intent_id = client_secret.split("_secret_")[0]
    assert (stub.intents[intent_id]["amount"], stub.intents[intent_id]["currency"]) == (
        4999,
        "usd",
    )
    # What Stripe.js does with the client secret once the card is accepted.
    stub.succeed(intent_id)
    verified = (
        await api.data(
            "VerifyPayment",
            {"paymentId": payment["id"], "gatewayPaymentId": intent_id},
            token=student.token,
        )
    )["verifyPayment"]
    assert verified["status"] == "SUCCEEDED"
    assert verified["provider"] == "STRIPE"
    assert verified["enrollment"]["status"] == "ACTIVE"


async def test_paid_course_with_razorpay(api: Api, razorpay: tuple[RazorpayStub, str]) -> None:
    stub = razorpay[0]
    teacher = await api.sign_up("TEACHER")
    course = await published_course(api, teacher, price={"amount": "999.00", "currency": "INR"})
    student = await api.sign_up()

    # The checkout screen's own mutation this time, rather than enroll(provider:).
    payment = (
        await api.data(
            "CreatePayment", {"courseId": course.id, "provider": "RAZORPAY"}, token=student.token
        )
    )["createPayment"]
    checkout = payment["checkout"]
    assert checkout["keyId"]
    assert stub.orders[checkout["orderId"]]["amount"] == 99900
    # Razorpay Checkout hands the client the payment id and the signature.
    gateway_id, signature = stub.pay(checkout["orderId"])
    verified = (
        await api.data(
            "VerifyPayment",
            {"paymentId": payment["id"], "gatewayPaymentId": gateway_id, "signature": signature},
            token=student.token,
        )
    )["verifyPayment"]
    assert verified["status"] == "SUCCEEDED"
    assert verified["amount"] == {"amount": "999.00", "currency": "INR"}
    assert verified["enrollment"]["status"] == "ACTIVE"


async def test_webhook_alone_activates_the_enrollment(
    api: Api, stack: Stack, stripe: tuple[StripeStub, str]
) -> None:
    """The client pays and goes away: only the providers' webhooks tell payments."""
    teacher = await api.sign_up("TEACHER")
    course = await published_course(api, teacher, price=PRICE)
    sandbox_student, stripe_student = await api.sign_up(), await api.sign_up()

    # Sandbox: settling sends its signed webhook to payments, as a provider does.
    sandbox_payment = (await _enroll(api, sandbox_student, course, "SANDBOX"))["payment"]
    await settle_sandbox(sandbox_payment["checkout"])

    # Stripe: the stand-in's event, delivered to the webhook URL with a real signature.
    stub = stripe[0]
    stripe_payment = (await _enroll(api, stripe_student, course, "STRIPE"))["payment"]
    intent = stub.succeed(stripe_payment["checkout"]["clientSecret"].split("_secret_")[0])
    body = stub.event("payment_intent.succeeded", intent)
    async with httpx.AsyncClient(timeout=30) as client:
        delivered = await client.post(
            f"{stack.services['payments'].url}/webhooks/stripe",
            content=body,
            headers={"content-type": "application/json", "Stripe-Signature": stub.sign(body)},
        )
    assert delivered.status_code == 200, delivered.text

    for student, payment in ((sandbox_student, sandbox_payment), (stripe_student, stripe_payment)):
        settled = await eventually(
            partial(_payment, api, student, payment["id"]), _enrollment_active
        )
        assert settled["status"] == "SUCCEEDED"
        assert await _my_statuses(api, student, course) == ["ACTIVE"]
