"""One query whose answer comes from all four subgraphs at once."""

from __future__ import annotations

from tests.e2e.client import Api
from tests.e2e.scenario import published_course, settle_sandbox, upload_lecture_video

EVERYTHING = """
query Everything($lectureId: ID!) {
  me {
    name
    enrollments {
      status
      course { title teacher { name } }
      payment { status provider amount { amount currency } }
    }
  }
  lecture(id: $lectureId) {
    title
    video { status durationSeconds fileName }
  }
}
"""


async def test_one_query_across_users_courses_payments_and_files(api: Api) -> None:
    teacher = await api.sign_up("TEACHER", name="Barbara Liskov")
    course = await published_course(
        api, teacher, price={"amount": "19.00", "currency": "EUR"}, title="Abstraction"
    )
    await upload_lecture_video(api, teacher, course.lecture_ids[0], seconds=5.0)
    student = await api.sign_up(name="Ada Lovelace")
    payment = (
        await api.data(
            "Enroll", {"courseId": course.id, "provider": "SANDBOX"}, token=student.token
        )
    )["enroll"]["payment"]
    proof = await settle_sandbox(payment["checkout"])
    await api.data("VerifyPayment", {"paymentId": payment["id"], **proof}, token=student.token)

    result = await api.run(EVERYTHING, {"lectureId": course.lecture_ids[0]}, token=student.token)
    assert result.ok() == {
        "me": {
            "name": "Ada Lovelace",  # users
            "enrollments": [
                {
                    "status": "ACTIVE",  # courses
                    "course": {"title": "Abstraction", "teacher": {"name": "Barbara Liskov"}},
                    "payment": {  # payments
                        "status": "SUCCEEDED",
                        "provider": "SANDBOX",
                        "amount": {"amount": "19.00", "currency": "EUR"},
                    },
                }
            ],
        },
        "lecture": {
            "title": "Lecture 1",
            "video": {"status": "READY", "durationSeconds": 5.0, "fileName": "intro.mp4"},  # files
        },
    }
