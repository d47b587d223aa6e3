"""Internal fields for payments and files: HMAC-guarded, hidden, idempotent."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import orjson
import pytest

from contracts.events import parse
from contracts.events.courses import (
    CertificateIssued,
    EnrollmentCompleted,
    EnrollmentCreated,
    EnrollmentDropped,
)
from coursegraph.events import Event
from coursegraph.identity import Viewer
from coursegraph.service_auth import ServiceSigner
from coursegraph.settings import Settings
from subgraphs.courses.bootstrap import CoursesContainer
from tests.courses.api import (
    ADD_LECTURE,
    ISSUE_CERTIFICATE,
    People,
    add_section,
    create_course,
    enroll,
    progress,
    published_course,
)
from tests.helpers import gql, signer_for

PRICING = """
query($id: ID!) {
  coursePricing(courseId: $id) {
    courseId title status teacherId priceAmountMinor currency
  }
}"""
INTERNAL = "id userId courseId status progressPercentage certificateIssued"
COMPLETE = f"""
mutation($u: ID!, $c: ID!, $p: ID!) {{
  completePaidEnrollment(userId: $u, courseId: $c, paymentId: $p) {{ {INTERNAL} }}
}}"""
DROP = f"mutation($p: ID!) {{ dropEnrollmentForPayment(paymentId: $p) {{ {INTERNAL} }} }}"
FOR_PAYMENT = f"query($p: ID!) {{ enrollmentForPayment(paymentId: $p) {{ {INTERNAL} }} }}"
PROGRESS = """
query($u: ID!, $c: ID!) {
  viewerProgress(userId: $u, courseId: $c) {
    enrolled status progressPercentage certificateIssued
  }
}"""
RECORD_VIDEO = """
mutation($f: ID!, $s: VideoStatus!, $d: Int) {
  recordVideoStatus(fileId: $f, status: $s, durationSeconds: $d)
}"""
LECTURE = "query($id: ID!) { lecture(id: $id) { videoStatus durationSeconds video { id } } }"
MY_ENROLLMENTS = "{ myEnrollments { id status droppedAt payment { id } } }"
PAID = {"amount": "1250", "currency": "JPY"}


@pytest.fixture
def payments(courses_settings: Settings) -> ServiceSigner:
    return signer_for("payments", courses_settings)


async def test_course_pricing(courses_url: str, people: People, payments: ServiceSigner) -> None:
    teacher = people.make("TEACHER")
    paid = await create_course(courses_url, teacher, "Paid", price=PAID)
    free = await published_course(courses_url, teacher, "Free")

    data = (await gql(courses_url, PRICING, {"id": paid["id"]}, signer=payments)).ok()
    assert data["coursePricing"] == {
        "courseId": paid["id"],
        "title": "Paid",
        "status": "DRAFT",
        "teacherId": teacher.id,
        "priceAmountMinor": 1250,
        "currency": "JPY",
    }
    data = (await gql(courses_url, PRICING, {"id": free["id"]}, signer=payments)).ok()
    assert data["coursePricing"]["priceAmountMinor"] is None
    assert data["coursePricing"]["currency"] is None
    assert data["coursePricing"]["status"] == "PUBLISHED"
    unknown = {"id": "00000000-0000-0000-0000-000000000000"}
    assert (await gql(courses_url, PRICING, unknown, signer=payments)).ok() == {
        "coursePricing": None
    }


async def test_complete_paid_enrollment_is_idempotent_on_payment(
    courses_url: str, people: People, payments: ServiceSigner
) -> None:
    course = await published_course(courses_url, people.make("TEACHER"), price=PAID)
    student = people.make()
    variables = {"u": student.id, "c": course["id"], "p": "pay_123"}
    results = await asyncio.gather(
        *(gql(courses_url, COMPLETE, variables, signer=payments) for _ in range(5))
    )
    enrollments = [r.ok()["completePaidEnrollment"] for r in results]
    assert len({e["id"] for e in enrollments}) == 1
    assert enrollments[0]["status"] == "ACTIVE"
    assert enrollments[0]["certificateIssued"] is False

    # A second payment for a seat the student already holds returns that seat.
    other = {"u": student.id, "c": course["id"], "p": "pay_456"}
    second = (await gql(courses_url, COMPLETE, other, signer=payments)).ok()
    assert second["completePaidEnrollment"]["id"] == enrollments[0]["id"]

    mine = (await gql(courses_url, MY_ENROLLMENTS, token=student.token)).ok()["myEnrollments"]
    assert {m["payment"]["id"]: m["status"] for m in mine} == {
        "pay_123": "ACTIVE",
        "pay_456": "DROPPED",
    }

    found = await gql(courses_url, FOR_PAYMENT, {"p": "pay_123"}, signer=payments)
    assert found.ok()["enrollmentForPayment"]["id"] == enrollments[0]["id"]
    # The second payment holds no seat, and never can: payments refunds it (I1).
    unkept = await gql(courses_url, FOR_PAYMENT, {"p": "pay_456"}, signer=payments)
    assert unkept.ok()["enrollmentForPayment"]["status"] == "DROPPED"
    missing = await gql(courses_url, FOR_PAYMENT, {"p": "pay_789"}, signer=payments)
    assert missing.ok()["enrollmentForPayment"] is None


async def test_a_payment_cannot_complete_someone_elses_seat(
    courses_url: str, people: People, payments: ServiceSigner
) -> None:
    course = await published_course(courses_url, people.make("TEACHER"), price=PAID)
    first = {"u": people.make().id, "c": course["id"], "p": "pay_1"}
    (await gql(courses_url, COMPLETE, first, signer=payments)).ok()
    reused = {"u": people.make().id, "c": course["id"], "p": "pay_1"}
    assert (await gql(courses_url, COMPLETE, reused, signer=payments)).code == "CONFLICT"
    unknown = {"u": people.make().id, "c": "00000000-0000-0000-0000-000000000000", "p": "pay_2"}
    assert (await gql(courses_url, COMPLETE, unknown, signer=payments)).code == "NOT_FOUND"
    bad = {"u": "someone", "c": course["id"], "p": "pay_3"}
    assert (await gql(courses_url, COMPLETE, bad, signer=payments)).code == "BAD_USER_INPUT"


async def test_drop_for_payment_is_idempotent(
    courses_url: str, people: People, payments: ServiceSigner
) -> None:
    course = await published_course(courses_url, people.make("TEACHER"), price=PAID)
    student = people.make()
    variables = {"u": student.id, "c": course["id"], "p": "pay_9"}
    enrollment = (await gql(courses_url, COMPLETE, variables, signer=payments)).ok()
    first = (await gql(courses_url, DROP, {"p": "pay_9"}, signer=payments)).ok()
    again = (await gql(courses_url, DROP, {"p": "pay_9"}, signer=payments)).ok()
    assert first["dropEnrollmentForPayment"]["status"] == "DROPPED"
    assert first == again
    assert first["dropEnrollmentForPayment"]["id"] == (enrollment["completePaidEnrollment"]["id"])
    [mine] = (await gql(courses_url, MY_ENROLLMENTS, token=student.token)).ok()["myEnrollments"]
    assert mine["droppedAt"]
    nothing = (await gql(courses_url, DROP, {"p": "pay_none"}, signer=payments)).ok()
    assert nothing == {"dropEnrollmentForPayment": None}
    # Completing a refunded payment again (a late webhook) does not revive the seat.
    late = (await gql(courses_url, COMPLETE, variables, signer=payments)).ok()
    assert late["completePaidEnrollment"]["status"] == "DROPPED"


async def test_viewer_progress_for_refund_proration(
    courses_url: str, people: People, payments: ServiceSigner
) -> None:
    course = await published_course(courses_url, people.make("TEACHER"))
    student = await people.register()
    variables = {"u": student.id, "c": course["id"]}
    none = (await gql(courses_url, PROGRESS, variables, signer=payments)).ok()
    assert none["viewerProgress"] == {
        "enrolled": False,
        "status": None,
        "progressPercentage": 0.0,
        "certificateIssued": False,
    }
    enrollment = (await enroll(courses_url, student, course["id"])).ok()["enroll"]
    (await progress(courses_url, student, course["id"], 37.5)).ok()
    partial = (await gql(courses_url, PROGRESS, variables, signer=payments)).ok()
    assert partial["viewerProgress"]["enrolled"] is True
    assert partial["viewerProgress"]["status"] == "ACTIVE"
    assert partial["viewerProgress"]["progressPercentage"] == 37.5

    (await progress(courses_url, student, course["id"], 100)).ok()
    issued = await gql(
        courses_url, ISSUE_CERTIFICATE, {"id": enrollment["id"]}, token=student.token
    )
    issued.ok()
    done = (await gql(courses_url, PROGRESS, variables, signer=payments)).ok()["viewerProgress"]
    assert done["status"] == "COMPLETED"
    assert done["certificateIssued"] is True


async def test_record_video_status_from_files(
    courses_url: str,
    people: People,
    courses_settings: Settings,
    container: CoursesContainer,
) -> None:
    teacher = people.make("TEACHER")
    course = await create_course(courses_url, teacher)
    section = await add_section(courses_url, teacher, course["id"])
    lecture = await gql(
        courses_url,
        ADD_LECTURE,
        {"sectionId": section["id"], "input": {"title": "Intro"}},
        token=teacher.token,
    )
    lecture_id = lecture.ok()["addLecture"]["id"]
    # What initiateLectureUpload does once files has issued the ticket.
    await container.videos.attach(Viewer(teacher.id, "TEACHER"), lecture_id, "file-1")
    files = signer_for("files", courses_settings)

    ready = {"f": "file-1", "s": "READY", "d": 95}
    for _ in range(2):  # idempotent
        assert (await gql(courses_url, RECORD_VIDEO, ready, signer=files)).ok() == {
            "recordVideoStatus": True
        }
    seen = (await gql(courses_url, LECTURE, {"id": lecture_id}, token=teacher.token)).ok()
    assert seen["lecture"] == {
        "videoStatus": "READY",
        "durationSeconds": 95,
        "video": {"id": "file-1"},
    }
    unknown = {"f": "file-404", "s": "FAILED", "d": None}
    assert (await gql(courses_url, RECORD_VIDEO, unknown, signer=files)).ok() == {
        "recordVideoStatus": False
    }
    negative = {"f": "file-1", "s": "READY", "d": -5}
    assert (await gql(courses_url, RECORD_VIDEO, negative, signer=files)).code == "BAD_USER_INPUT"
    by_payments = await gql(
        courses_url, RECORD_VIDEO, ready, signer=signer_for("payments", courses_settings)
    )
    assert by_payments.code == "FORBIDDEN"


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (PRICING, {"id": "00000000-0000-0000-0000-000000000000"}),
        (FOR_PAYMENT, {"p": "pay_1"}),
        (PROGRESS, {"u": "00000000-0000-0000-0000-000000000000", "c": "x"}),
        (COMPLETE, {"u": "a", "c": "b", "p": "c"}),
        (DROP, {"p": "pay_1"}),
        (RECORD_VIDEO, {"f": "file-1", "s": "READY"}),
    ],
)
async def test_unsigned_and_wrong_callers_are_refused(
    courses_url: str, courses_settings: Settings, query: str, variables: dict[str, str]
) -> None:
    unsigned = await gql(courses_url, query, variables, signer=None)
    assert unsigned.code == "UNAUTHENTICATED"
    assert not any((unsigned.data or {}).values())  # nothing resolved, nothing done
    for service in ("router", "users"):
        refused = await gql(
            courses_url, query, variables, signer=signer_for(service, courses_settings)
        )
        assert refused.code == "FORBIDDEN"
    forged = await gql(courses_url, query, variables, signer=ServiceSigner("payments", b"guess"))
    assert forged.code == "UNAUTHENTICATED"


async def _post(url: str, body: bytes, headers: dict[str, str]) -> dict[str, object]:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            url, content=body, headers={"content-type": "application/json", **headers}
        )
    result: dict[str, object] = response.json()
    return result


def _message(response: dict[str, object]) -> str:
    errors = response.get("errors")
    assert isinstance(errors, list)
    return str(errors[0]["message"])


async def test_replayed_stale_and_tampered_calls_are_refused(
    courses_url: str, people: People, payments: ServiceSigner
) -> None:
    course = await published_course(courses_url, people.make("TEACHER"), price=PAID)
    body = orjson.dumps(
        {"query": COMPLETE, "variables": {"u": people.make().id, "c": course["id"], "p": "p1"}}
    )
    headers = payments.headers("POST", "/graphql", body)
    assert "errors" not in await _post(courses_url, body, headers)
    assert "replayed" in _message(await _post(courses_url, body, headers))

    stale = payments.headers("POST", "/graphql", body, timestamp=1_000_000_000)
    assert "stale" in _message(await _post(courses_url, body, stale))

    tampered = body.replace(b"p1", b"p2")
    fresh = payments.headers("POST", "/graphql", body)
    assert "bad service signature" in _message(await _post(courses_url, tampered, fresh))


async def test_internal_fields_are_hidden_and_marked(courses_url: str) -> None:
    sdl = (await gql(courses_url, "{ _service { sdl } }")).ok()["_service"]["sdl"]
    for field in (
        "coursePricing(courseId: ID!): CoursePricing",
        "enrollmentForPayment(paymentId: ID!): InternalEnrollment",
        "viewerProgress(userId: ID!, courseId: ID!): InternalProgress",
        "completePaidEnrollment(userId: ID!, courseId: ID!, paymentId: ID!): InternalEnrollment!",
        "dropEnrollmentForPayment(paymentId: ID!, userId: ID = null, courseId: ID = null):"
        " InternalEnrollment",
        "freezeEnrollmentForPayment(userId: ID!, courseId: ID!, paymentId: ID!,"
        " allowCertificate: Boolean! = false): InternalEnrollment!",
        "unfreezeEnrollmentForPayment(paymentId: ID!): InternalEnrollment",
    ):
        assert f'{field} @internal(services: ["payments"]) @inaccessible' in sdl
    assert (
        "recordVideoStatus(fileId: ID!, status: VideoStatus!, durationSeconds: Int): Boolean!"
        ' @internal(services: ["files"]) @inaccessible'
    ) in sdl
    for internal_type in ("CoursePricing", "InternalEnrollment", "InternalProgress"):
        assert f"type {internal_type} @inaccessible" in sdl


async def test_domain_events_go_through_the_outbox(
    courses_url: str, people: People, payments: ServiceSigner, courses_settings: Settings
) -> None:
    course = await published_course(courses_url, people.make("TEACHER"), price=PAID)
    student = await people.register()
    variables = {"u": student.id, "c": course["id"], "p": "pay_e"}
    enrollment = (await gql(courses_url, COMPLETE, variables, signer=payments)).ok()
    (await progress(courses_url, student, course["id"], 100)).ok()
    enrollment_id = enrollment["completePaidEnrollment"]["id"]
    issued = await gql(courses_url, ISSUE_CERTIFICATE, {"id": enrollment_id}, token=student.token)
    certificate = issued.ok()["issueCertificate"]
    (await gql(courses_url, DROP, {"p": "pay_e"}, signer=payments)).ok()

    connection = await asyncpg.connect(courses_settings.database_url_for("courses"))
    try:
        for _ in range(100):  # the relay delivers right after each commit
            rows = await connection.fetch(
                "SELECT id, topic, version, payload, delivered_at FROM courses.outbox"
                " ORDER BY created_at"
            )
            if rows and all(r["delivered_at"] for r in rows):
                break
            await asyncio.sleep(0.05)
    finally:
        await connection.close()
    assert all(r["delivered_at"] for r in rows)
    # Building the course announced each step (the router's response cache listens).
    changes = [orjson.loads(r["payload"]) for r in rows if r["topic"] == "course.updated"]
    assert {c["courseId"] for c in changes} == {course["id"]}
    kinds = [c["change"] for c in changes]
    assert kinds[0] == "created"
    assert "published" in kinds
    rows = [r for r in rows if r["topic"] != "course.updated"]
    assert [r["topic"] for r in rows] == [
        "enrollment.created",
        "enrollment.completed",
        "certificate.issued",
        "enrollment.dropped",
    ]
    assert all(r["delivered_at"] for r in rows)
    # Each is what its declared contract says.
    parsed = [
        parse(Event(str(r["id"]), r["topic"], orjson.loads(r["payload"]), r["version"]))
        for r in rows
    ]
    created, completed, certified, dropped = parsed
    assert isinstance(created, EnrollmentCreated)
    assert (created.paymentId, created.status, created.courseTitle) == (
        "pay_e",
        "ACTIVE",
        course["title"],
    )
    assert isinstance(completed, EnrollmentCompleted)
    assert completed.status == "COMPLETED"
    assert isinstance(dropped, EnrollmentDropped)
    assert dropped.status == "DROPPED"
    # The code mailed with the certificate is the one `verifyCertificate` accepts.
    assert isinstance(certified, CertificateIssued)
    assert certified.verificationCode == certificate["code"]
    assert (certified.certificateId, certified.enrollmentId) == (certificate["id"], enrollment_id)
