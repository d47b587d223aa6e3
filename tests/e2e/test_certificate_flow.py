"""Flow 3: progress updates → COMPLETED → certificate → public verification."""

from __future__ import annotations

from tests.e2e.client import Api
from tests.e2e.scenario import published_course


async def test_progress_completion_certificate_and_public_verification(api: Api) -> None:
    teacher = await api.sign_up("TEACHER")
    course = await published_course(api, teacher, lectures=3)
    student = await api.sign_up(name="Grace Hopper")
    enrollment = (await api.data("Enroll", {"courseId": course.id}, token=student.token))["enroll"]

    async def progress(percentage: float, watched: int) -> dict[str, object]:
        variables = {
            "courseId": course.id,
            "progressPercentage": percentage,
            "totalWatchTime": watched,
        }
        updated: dict[str, object] = (
            await api.data("UpdateProgress", variables, token=student.token)
        )["updateProgress"]
        return updated

    first = await progress(40, 300)
    assert (first["status"], first["progressPercentage"]) == ("ACTIVE", 40.0)
    # A late report from another device never lowers progress.
    stale = await progress(25, 200)
    assert stale["progressPercentage"] == 40.0
    done = await progress(100, 900)
    assert done["status"] == "COMPLETED"
    assert done["completedAt"]

    certificate = (
        await api.data("IssueCertificate", {"enrollmentId": enrollment["id"]}, token=student.token)
    )["issueCertificate"]
    assert certificate["studentName"] == "Grace Hopper"
    assert certificate["courseTitle"] == course.title
    again = (
        await api.data("IssueCertificate", {"enrollmentId": enrollment["id"]}, token=student.token)
    )["issueCertificate"]
    assert again["code"] == certificate["code"]

    learning = (await api.data("MyLearning", token=student.token))["myEnrollments"]
    mine = next(e for e in learning if e["id"] == enrollment["id"])
    assert mine["status"] == "COMPLETED"
    assert mine["certificate"]["code"] == certificate["code"]

    # Anyone (no token) can check a certificate by its code.
    verified = (await api.data("VerifyCertificate", {"code": certificate["code"]}))[
        "verifyCertificate"
    ]
    assert verified == {
        "code": certificate["code"],
        "issuedAt": certificate["issuedAt"],
        "studentName": "Grace Hopper",
        "courseTitle": course.title,
    }
    unknown = await api.data("VerifyCertificate", {"code": "not-a-real-code"})
    assert unknown["verifyCertificate"] is None
