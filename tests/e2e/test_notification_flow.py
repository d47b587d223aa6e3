"""Notifications through the whole stack: events cross processes on NATS JetStream, mail
reaches the SMTP sink. Pay → receipt; finish → completion; certificate → a mail whose
code `verifyCertificate` accepts; the same three in the app, none doubled."""

from __future__ import annotations

import re
from email.message import EmailMessage
from typing import Any

from subgraphs.notifications.sink import MailSink
from tests.e2e.client import Account, Api, eventually
from tests.e2e.scenario import published_course, settle_sandbox
from tests.notifications.conftest import read_maildir

PRICE = {"amount": "49.99", "currency": "USD"}
INBOX = """
query Inbox {
  me {
    unreadNotificationCount
    notifications(first: 20) {
      totalCount
      nodes { id kind title certificateCode amount { amount currency } course { id title } }
    }
  }
}"""
MARK_ALL = "mutation MarkAll { markAllNotificationsRead }"


def _mails(sink: MailSink, to: str) -> list[EmailMessage]:
    return [m for m in read_maildir(sink.maildir) if to in str(m["To"])]


async def _subjects(sink: MailSink, to: str, count: int) -> list[str]:
    async def subjects() -> list[str]:
        return sorted(str(m["Subject"]) for m in _mails(sink, to))

    return await eventually(subjects, lambda found: len(found) >= count, within=60)


async def _inbox(api: Api, student: Account) -> dict[str, Any]:
    me: dict[str, Any] = (await api.run(INBOX, token=student.token)).ok()["me"]
    return me


async def test_pay_finish_and_certificate_are_mailed_and_listed_once(
    api: Api, mail_sink: MailSink
) -> None:
    teacher = await api.sign_up("TEACHER")
    course = await published_course(api, teacher, price=PRICE, lectures=1)
    student = await api.sign_up(name="Grace Hopper")
    # Signing up is welcomed (users' outbox → NATS → notifications → SMTP).
    assert await _subjects(mail_sink, student.email, 1) == ["Welcome to Coursegraph"]

    required = (
        await api.data(
            "Enroll", {"courseId": course.id, "provider": "SANDBOX"}, token=student.token
        )
    )["enroll"]
    payment = required["payment"]
    proof = await settle_sandbox(payment["checkout"])
    verified = (
        await api.data("VerifyPayment", {"paymentId": payment["id"], **proof}, token=student.token)
    )["verifyPayment"]
    assert verified["status"] == "SUCCEEDED"
    receipt_subjects = await _subjects(mail_sink, student.email, 2)
    assert "Your receipt" in receipt_subjects
    receipt = next(m for m in _mails(mail_sink, student.email) if m["Subject"] == "Your receipt")
    assert "49.99 USD" in receipt.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert receipt["List-Unsubscribe"] is None

    done = (
        await api.data(
            "UpdateProgress",
            {"courseId": course.id, "progressPercentage": 100, "totalWatchTime": 600},
            token=student.token,
        )
    )["updateProgress"]
    assert done["status"] == "COMPLETED"
    certificate = (
        await api.data("IssueCertificate", {"enrollmentId": done["id"]}, token=student.token)
    )["issueCertificate"]

    subjects = await _subjects(mail_sink, student.email, 4)
    assert subjects == sorted(
        [
            "Welcome to Coursegraph",
            "Your receipt",
            f"You finished {course.title}",
            f"Your certificate for {course.title}",
        ]
    )
    mailed = next(m for m in _mails(mail_sink, student.email) if "certificate" in str(m["Subject"]))
    text = mailed.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    found = re.search(r"Verification code: (\S+)", text)
    assert found is not None, text
    assert found.group(1) == certificate["code"]
    verified_code = (await api.data("VerifyCertificate", {"code": found.group(1)}))[
        "verifyCertificate"
    ]
    assert verified_code["studentName"] == "Grace Hopper"
    assert mailed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    inbox = await eventually(
        lambda: _inbox(api, student), lambda me: me["notifications"]["totalCount"] >= 4
    )
    kinds = sorted(n["kind"] for n in inbox["notifications"]["nodes"])
    assert kinds == ["CERTIFICATE_ISSUED", "COURSE_COMPLETED", "PAYMENT_RECEIPT", "WELCOME"]
    assert inbox["unreadNotificationCount"] == 4
    by_kind = {n["kind"]: n for n in inbox["notifications"]["nodes"]}
    assert by_kind["PAYMENT_RECEIPT"]["amount"] == PRICE
    # The course is federated from courses.
    assert by_kind["CERTIFICATE_ISSUED"]["course"] == {"id": course.id, "title": course.title}
    assert by_kind["CERTIFICATE_ISSUED"]["certificateCode"] == certificate["code"]
    marked = (await api.run(MARK_ALL, token=student.token)).ok()
    assert marked["markAllNotificationsRead"] == 4
    assert (await _inbox(api, student))["unreadNotificationCount"] == 0
    # Nothing was sent twice.
    assert len(_mails(mail_sink, student.email)) == 4
