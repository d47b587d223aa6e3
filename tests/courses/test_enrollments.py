"""Enrolling over HTTP: free and paid courses, one seat per user, payments' part."""

from __future__ import annotations

import asyncio

import asyncpg

from coursegraph.settings import Settings
from coursegraph.testing import ServerThread
from subgraphs.courses.app import create_app
from subgraphs.courses.settings import CoursesSettings
from tests.courses.api import (
    ARCHIVE,
    COURSE,
    UPDATE_COURSE,
    People,
    create_course,
    enroll,
    published_course,
)
from tests.courses.conftest import FakePayments
from tests.helpers import gql, signer_for

PAID = {"amount": "19.99", "currency": "USD"}
MY_ENROLLMENTS = "{ myEnrollments { id status course { id title } } }"
VIEWER_ENROLLMENT = """
query($id: ID!) { course(id: $id) { enrollmentCount viewerEnrollment { id status } } }"""
COMPLETE = """
mutation($u: ID!, $c: ID!, $p: ID!) {
  completePaidEnrollment(userId: $u, courseId: $c, paymentId: $p) { id status }
}"""
DROP = "mutation($p: ID!) { dropEnrollmentForPayment(paymentId: $p) { id status } }"


async def _enrollment_rows(settings: Settings, course_id: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(settings.database_url_for("courses"))
    try:
        return await connection.fetch(
            "SELECT user_id, status, payment_id FROM courses.enrollments WHERE course_id = $1",
            course_id,
        )
    finally:
        await connection.close()


async def test_free_course_enrolls_at_once(courses_url: str, people: People) -> None:
    course = await published_course(courses_url, people.make("TEACHER"))
    student = people.make()
    result = (await enroll(courses_url, student, course["id"])).ok()["enroll"]
    assert result["__typename"] == "Enrollment"
    assert result["status"] == "ACTIVE"
    assert result["progressPercentage"] == 0
    assert result["payment"] is None
    assert result["user"] == {"id": student.id}

    seen = await gql(courses_url, VIEWER_ENROLLMENT, {"id": course["id"]}, token=student.token)
    assert seen.ok()["course"] == {
        "enrollmentCount": 1,
        "viewerEnrollment": {"id": result["id"], "status": "ACTIVE"},
    }
    anonymous = await gql(courses_url, VIEWER_ENROLLMENT, {"id": course["id"]})
    assert anonymous.ok()["course"]["viewerEnrollment"] is None
    mine = (await gql(courses_url, MY_ENROLLMENTS, token=student.token)).ok()["myEnrollments"]
    assert [(e["id"], e["course"]["id"]) for e in mine] == [(result["id"], course["id"])]


async def test_enrolling_twice_is_a_conflict(courses_url: str, people: People) -> None:
    course = await published_course(courses_url, people.make("TEACHER"))
    student = people.make()
    (await enroll(courses_url, student, course["id"])).ok()
    again = await enroll(courses_url, student, course["id"])
    assert again.code == "CONFLICT"
    assert "already enrolled" in again.errors[0]["message"]


async def test_twenty_concurrent_enrolls_make_one_seat(
    courses_url: str, people: People, courses_settings: Settings
) -> None:
    course = await published_course(courses_url, people.make("TEACHER"))
    student = people.make()
    results = await asyncio.gather(*(enroll(courses_url, student, course["id"]) for _ in range(20)))
    assert sorted(r.codes[0] if r.errors else "OK" for r in results) == ["CONFLICT"] * 19 + ["OK"]
    assert len(await _enrollment_rows(courses_settings, course["id"])) == 1
    count = await gql(courses_url, VIEWER_ENROLLMENT, {"id": course["id"]}, token=student.token)
    assert count.ok()["course"]["enrollmentCount"] == 1


async def test_enrollment_count_is_exact_under_concurrency(
    courses_url: str, people: People
) -> None:
    course = await published_course(courses_url, people.make("TEACHER"))
    students = [people.make() for _ in range(15)]
    results = await asyncio.gather(*(enroll(courses_url, s, course["id"]) for s in students))
    assert all(not r.errors for r in results)
    count = await gql(courses_url, VIEWER_ENROLLMENT, {"id": course["id"]})
    assert count.ok()["course"]["enrollmentCount"] == 15


async def test_drafts_unknown_and_archived_courses_refuse(courses_url: str, people: People) -> None:
    teacher = people.make("TEACHER")
    draft = await create_course(courses_url, teacher)
    student = people.make()
    assert (await enroll(courses_url, student, draft["id"])).code == "NOT_FOUND"
    assert (await enroll(courses_url, teacher, draft["id"])).code == "NOT_FOUND"
    assert (await enroll(courses_url, student, "not-an-id")).code == "NOT_FOUND"

    course = await published_course(courses_url, teacher, "Old")
    await gql(courses_url, ARCHIVE, {"id": course["id"]}, token=teacher.token)
    archived = await enroll(courses_url, student, course["id"])
    assert archived.code == "CONFLICT"

    visitor = await gql(
        courses_url, "mutation($c: ID!) { enroll(courseId: $c) { __typename } }", {"c": "x"}
    )
    assert visitor.code == "UNAUTHENTICATED"


async def test_paid_course_without_provider_needs_payment(
    courses_url: str, people: People, fake_payments: FakePayments, courses_settings: Settings
) -> None:
    course = await published_course(courses_url, people.make("TEACHER"), price=PAID)
    result = (await enroll(courses_url, people.make(), course["id"])).ok()["enroll"]
    assert result == {
        "__typename": "PaymentRequired",
        "course": {"id": course["id"]},
        "price": {"amount": "19.99", "currency": "USD"},
        "payment": None,
    }
    assert fake_payments.calls == []  # no provider: payments is not involved
    assert await _enrollment_rows(courses_settings, course["id"]) == []


async def test_paid_course_with_provider_asks_payments(
    courses_url: str, people: People, fake_payments: FakePayments, courses_settings: Settings
) -> None:
    course = await published_course(courses_url, people.make("TEACHER"), price=PAID)
    student = people.make()
    result = (await enroll(courses_url, student, course["id"], "STRIPE")).ok()["enroll"]
    assert result["__typename"] == "PaymentRequired"
    assert result["payment"] == {"id": "pay_1"}

    [call] = fake_payments.calls
    assert call["caller"] == "courses"  # HMAC-verified by the stand-in
    assert "preparePayment" in call["query"]
    # Courses states the price and the seat: payments needs no call back (issue 12).
    assert call["variables"] == {
        "userId": student.id,
        "courseId": course["id"],
        "provider": "STRIPE",
        "order": {
            "title": course["title"],
            "priceAmountMinor": 1999,
            "currency": "USD",
            "viewerEnrolled": False,
        },
    }
    assert call["authorization"] == f"Bearer {student.token}"
    assert await _enrollment_rows(courses_settings, course["id"]) == []


async def test_payments_down_is_service_unavailable_and_writes_nothing(
    courses_url: str, people: People, fake_payments: FakePayments, courses_settings: Settings
) -> None:
    course = await published_course(courses_url, people.make("TEACHER"), price=PAID)
    fake_payments.available = False
    result = await enroll(courses_url, people.make(), course["id"], "SANDBOX")
    assert result.code == "SERVICE_UNAVAILABLE"
    assert "payments" in result.errors[0]["message"]
    assert result.data is None
    assert await _enrollment_rows(courses_settings, course["id"]) == []


async def test_payments_unreachable_is_service_unavailable(
    courses_url: str,
    people: People,
    courses_settings: Settings,
    courses_section: CoursesSettings,
) -> None:
    # A courses server whose payments address has nothing listening.
    unreachable = courses_settings.model_copy(update={"payments_url": "http://127.0.0.1:9"})
    with ServerThread(create_app(unreachable, courses_section)) as server:
        url = f"{server.url}/graphql"
        course = await published_course(url, people.make("TEACHER"), price=PAID)
        result = await enroll(url, people.make(), course["id"], "RAZORPAY")
        assert result.code == "SERVICE_UNAVAILABLE"
        free = await published_course(url, people.make("TEACHER"), "Free one")
        assert (await enroll(url, people.make(), free["id"])).ok()["enroll"]["status"] == "ACTIVE"
    assert await _enrollment_rows(courses_settings, course["id"]) == []


async def test_already_enrolled_in_a_paid_course_is_a_conflict_before_payment(
    courses_url: str, people: People, fake_payments: FakePayments, courses_settings: Settings
) -> None:
    course = await published_course(courses_url, people.make("TEACHER"), price=PAID)
    student = people.make()
    variables = {"u": student.id, "c": course["id"], "p": "pay_x"}
    (
        await gql(courses_url, COMPLETE, variables, signer=signer_for("payments", courses_settings))
    ).ok()
    again = await enroll(courses_url, student, course["id"], "STRIPE")
    assert again.code == "CONFLICT"
    assert fake_payments.calls == []


async def test_re_enrolling_after_a_drop(
    courses_url: str, people: People, courses_settings: Settings
) -> None:
    teacher = people.make("TEACHER")
    course = await published_course(courses_url, teacher, price=PAID)
    student = people.make()
    signer = signer_for("payments", courses_settings)
    first = await gql(
        courses_url, COMPLETE, {"u": student.id, "c": course["id"], "p": "pay_1"}, signer=signer
    )
    first_id = first.ok()["completePaidEnrollment"]["id"]
    (await gql(courses_url, DROP, {"p": "pay_1"}, signer=signer)).ok()

    # Dropped: the seat is free again, whether the course is paid or (now) free.
    await gql(
        courses_url,
        UPDATE_COURSE,
        {"id": course["id"], "input": {"price": None}},
        token=teacher.token,
    )
    again = (await enroll(courses_url, student, course["id"])).ok()["enroll"]
    assert again["status"] == "ACTIVE"
    assert again["id"] != first_id
    statuses = sorted(r["status"] for r in await _enrollment_rows(courses_settings, course["id"]))
    assert statuses == ["ACTIVE", "DROPPED"]
    mine = (await gql(courses_url, MY_ENROLLMENTS, token=student.token)).ok()["myEnrollments"]
    assert [e["status"] for e in mine] == ["ACTIVE", "DROPPED"]  # newest first
    seen = await gql(courses_url, COURSE, {"id": course["id"]})
    assert seen.ok()["course"]["enrollmentCount"] == 1


async def test_my_enrollments_needs_a_viewer(courses_url: str) -> None:
    assert (await gql(courses_url, MY_ENROLLMENTS)).code == "UNAUTHENTICATED"
