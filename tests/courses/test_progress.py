"""Progress and certificates over HTTP."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from coursegraph.settings import Settings
from tests.courses.api import ISSUE_CERTIFICATE, People, enroll, progress, published_course
from tests.helpers import gql

VERIFY = """
query($code: String!) { verifyCertificate(code: $code) { id code studentName courseTitle } }"""


async def _enrolled(courses_url: str, people: People) -> tuple[str, str]:
    course = await published_course(courses_url, people.make("TEACHER"), "Calculus")
    return course["id"], course["title"]


async def test_progress_keeps_the_highest_values_and_completes_at_100(
    courses_url: str, people: People
) -> None:
    course_id, _ = await _enrolled(courses_url, people)
    student = people.make()
    (await enroll(courses_url, student, course_id)).ok()

    step = (await progress(courses_url, student, course_id, 40.5, 600)).ok()["updateProgress"]
    assert (step["status"], step["progressPercentage"], step["totalWatchTime"]) == (
        "ACTIVE",
        40.5,
        600,
    )
    lower = (await progress(courses_url, student, course_id, 10, 60)).ok()["updateProgress"]
    assert (lower["progressPercentage"], lower["totalWatchTime"]) == (40.5, 600)

    done = (await progress(courses_url, student, course_id, 100, 1800)).ok()["updateProgress"]
    assert done["status"] == "COMPLETED"
    assert done["completedAt"]
    later = (await progress(courses_url, student, course_id, 100, 2000)).ok()["updateProgress"]
    assert later["completedAt"] == done["completedAt"]  # completed once
    assert later["totalWatchTime"] == 2000


async def test_completion_is_announced_once_whatever_follows(
    courses_url: str, courses_settings: Settings, people: People
) -> None:
    course_id, _ = await _enrolled(courses_url, people)
    student = people.make()
    (await enroll(courses_url, student, course_id)).ok()
    for value in (50, 100, 100, 30):
        (await progress(courses_url, student, course_id, value)).ok()
    connection = await asyncpg.connect(courses_settings.database_url_for("courses"))
    try:
        announced = await connection.fetchval(
            "SELECT count(*) FROM courses.outbox WHERE topic = 'enrollment.completed'"
            " AND payload->>'userId' = $1 AND payload->>'courseId' = $2",
            student.id,
            course_id,
        )
    finally:
        await connection.close()
    assert announced == 1


async def test_concurrent_reports_keep_the_maximum(courses_url: str, people: People) -> None:
    course_id, _ = await _enrolled(courses_url, people)
    student = people.make()
    (await enroll(courses_url, student, course_id)).ok()
    values = [5.0, 55.0, 25.0, 75.5, 15.0, 65.0]
    await asyncio.gather(*(progress(courses_url, student, course_id, v, int(v)) for v in values))
    final = (await progress(courses_url, student, course_id, 0, 0)).ok()["updateProgress"]
    assert (final["progressPercentage"], final["totalWatchTime"]) == (75.5, 75)


@pytest.mark.parametrize(("percentage", "watch_time"), [(-0.1, 0), (100.01, 0), (50, -1)])
async def test_out_of_range_progress_is_refused(
    courses_url: str, people: People, percentage: float, watch_time: int
) -> None:
    course_id, _ = await _enrolled(courses_url, people)
    student = people.make()
    (await enroll(courses_url, student, course_id)).ok()
    result = await progress(courses_url, student, course_id, percentage, watch_time)
    assert result.code == "BAD_USER_INPUT"


async def test_progress_without_an_enrollment_is_not_found(
    courses_url: str, people: People
) -> None:
    course_id, _ = await _enrolled(courses_url, people)
    assert (await progress(courses_url, people.make(), course_id, 10)).code == "NOT_FOUND"
    assert (await progress(courses_url, people.make(), "nope", 10)).code == "NOT_FOUND"


async def test_certificate_only_after_completion_then_idempotent(
    courses_url: str, people: People
) -> None:
    course_id, title = await _enrolled(courses_url, people)
    student = await people.register(name="Grace Hopper")
    enrollment = (await enroll(courses_url, student, course_id)).ok()["enroll"]
    variables = {"id": enrollment["id"]}

    early = await gql(courses_url, ISSUE_CERTIFICATE, variables, token=student.token)
    assert early.code == "CONFLICT"
    assert "completed" in early.errors[0]["message"]

    (await progress(courses_url, student, course_id, 100)).ok()
    first, second = await asyncio.gather(
        gql(courses_url, ISSUE_CERTIFICATE, variables, token=student.token),
        gql(courses_url, ISSUE_CERTIFICATE, variables, token=student.token),
    )
    certificate = first.ok()["issueCertificate"]
    assert second.ok()["issueCertificate"] == certificate
    assert certificate["studentName"] == "Grace Hopper"
    assert certificate["courseTitle"] == title
    assert len(certificate["code"].replace("-", "")) == 24  # 120 random bits, base32

    verified = await gql(courses_url, VERIFY, {"code": certificate["code"].lower()})
    assert verified.ok()["verifyCertificate"]["id"] == certificate["id"]
    forged = await gql(courses_url, VERIFY, {"code": "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF"})
    assert forged.ok()["verifyCertificate"] is None


async def test_only_the_student_or_an_admin_gets_the_certificate(
    courses_url: str, people: People
) -> None:
    course_id, _ = await _enrolled(courses_url, people)
    student = await people.register()
    enrollment = (await enroll(courses_url, student, course_id)).ok()["enroll"]
    (await progress(courses_url, student, course_id, 100)).ok()
    variables = {"id": enrollment["id"]}
    other = await gql(courses_url, ISSUE_CERTIFICATE, variables, token=people.make().token)
    assert other.code == "NOT_FOUND"
    admin = await gql(courses_url, ISSUE_CERTIFICATE, variables, token=people.admin().token)
    assert admin.ok()["issueCertificate"]["code"]
