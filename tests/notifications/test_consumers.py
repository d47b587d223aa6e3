"""Each event → the right in-app notification and mail, exactly once: under duplicates,
redelivery and a consumer restarted mid-stream."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from subgraphs.notifications.models import Base
from tests.helpers import gql
from tests.notifications.conftest import Notify

dead_letters = Base.metadata.tables["notifications.dead_letters"]
COURSE_ID = "c0ffee00-0000-4000-8000-000000000001"
PAYMENT_ID = "9a9a9a9a-0000-4000-8000-000000000002"


@dataclass(frozen=True)
class Case:
    topic: str
    payload: Callable[[str], dict[str, Any]]
    kind: str
    subject: str
    text: str  # in the mail's plain text
    transactional: bool = False
    mail: bool = True


def _enrollment(status: str, payment_id: str | None = None) -> Callable[[str], dict[str, Any]]:
    return lambda user: {
        "enrollmentId": str(uuid.uuid4()),
        "userId": user,
        "courseId": COURSE_ID,
        "courseTitle": "Type <Systems> & Proofs",
        "paymentId": payment_id,
        "status": status,
    }


def _charge(user: str, **extra: Any) -> dict[str, Any]:
    return {
        "paymentId": PAYMENT_ID,
        "userId": user,
        "courseId": COURSE_ID,
        "amountMinor": 4999,
        "currency": "USD",
        **extra,
    }


def _video(status: str, reason: str | None) -> Callable[[str], dict[str, Any]]:
    return lambda user: {
        "fileId": str(uuid.uuid4()),
        "ownerId": "lecture-1",
        "purpose": "lecture_video",
        "uploadedBy": user,
        "status": status,
        "durationSeconds": 12.0 if status == "READY" else None,
        "failureReason": reason,
        "recordedAt": "2026-12-06T12:00:00+00:00",
    }


CASES = [
    Case("enrollment.created", _enrollment("ACTIVE"), "ENROLLED", "You're in", "You're in!"),
    Case(
        "enrollment.completed",
        _enrollment("COMPLETED"),
        "COURSE_COMPLETED",
        "You finished",
        "you completed",
    ),
    Case(
        "enrollment.dropped",
        _enrollment("DROPPED"),
        "ENROLLMENT_DROPPED",
        "",
        "",
        mail=False,
    ),
    Case(
        "certificate.issued",
        lambda user: {
            "certificateId": str(uuid.uuid4()),
            "enrollmentId": str(uuid.uuid4()),
            "userId": user,
            "courseId": COURSE_ID,
            "courseTitle": "Type <Systems> & Proofs",
            "verificationCode": "ABCD-EFGH-JKLM",
        },
        "CERTIFICATE_ISSUED",
        "Your certificate",
        "Verification code: ABCD-EFGH-JKLM",
    ),
    Case(
        "payment.succeeded",
        lambda user: _charge(user, provider="SANDBOX"),
        "PAYMENT_RECEIPT",
        "Your receipt",
        "Amount:  49.99 USD",
        transactional=True,
    ),
    Case(
        "payment.failed",
        lambda user: _charge(user, provider="SANDBOX", reason="card declined"),
        "PAYMENT_FAILED",
        "did not go through",
        "49.99 USD did not go through: card declined",
        transactional=True,
    ),
    Case(
        "payment.refunded",
        lambda user: _charge(user, refundId=str(uuid.uuid4())),
        "REFUND_CONFIRMED",
        "Your refund",
        "We refunded 49.99 USD",
        transactional=True,
    ),
    Case("video.ready", _video("READY", None), "VIDEO_READY", "is ready", "ready to watch"),
    Case(
        "video.failed",
        _video("FAILED", "not a video file"),
        "VIDEO_FAILED",
        "could not be processed",
        "could not be processed: not a video file",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.topic for c in CASES])
async def test_each_event_makes_one_notification_and_one_mail(notify: Notify, case: Case) -> None:
    user, email = await notify.register("Grace <Hopper>")
    event = await notify.publish(case.topic, case.payload(user))
    await notify.publish_again(event)  # a duplicate, past JetStream's own window
    # The welcome first, then this event's; a marker event after both proves the
    # duplicate was consumed (and skipped) before we count.
    marker = await notify.publish("payment.succeeded", _charge(user, provider="SANDBOX"))
    rows = await notify.wait_notifications(user, 3)
    assert [r.kind for r in rows] == ["WELCOME", case.kind, "PAYMENT_RECEIPT"]
    assert rows[2].event_id == marker.id
    mine = rows[1]
    assert mine.event_id == event.id
    assert mine.read_at is None
    expected_mails = 3 if case.mail else 2
    mails = await notify.wait_mails(email, expected_mails)
    assert len(mails) == expected_mails
    if not case.mail:
        assert len(await notify.mail_rows(user)) == 2
        return
    mail = next(m for m in mails if case.subject in str(m["Subject"]))
    assert str(mail["To"]) == f'"Grace <Hopper>" <{email}>'
    text = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert case.text in text.get_content()
    # HTML is escaped: a name or title cannot inject markup.
    assert "<Hopper>" not in html.get_content()
    assert "Grace &lt;Hopper&gt;" in html.get_content()
    if case.transactional:
        assert mail["List-Unsubscribe"] is None
        assert mail["List-Unsubscribe-Post"] is None
    else:
        assert str(mail["List-Unsubscribe"]).startswith("<")
        assert "/unsubscribe?token=" in str(mail["List-Unsubscribe"])
        assert str(mail["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    rows_out = await notify.wait_sent(user, expected_mails)
    assert {r.message_id for r in rows_out} == {str(m["Message-ID"]) for m in mails}


async def test_a_paid_enrollment_is_not_announced_twice(notify: Notify) -> None:
    user, email = await notify.register()
    await notify.publish("enrollment.created", _enrollment("ACTIVE", PAYMENT_ID)(user))
    await notify.publish("enrollment.dropped", _enrollment("DROPPED", PAYMENT_ID)(user))
    await notify.publish("payment.succeeded", _charge(user, provider="SANDBOX"))
    rows = await notify.wait_notifications(user, 2)
    assert [r.kind for r in rows] == ["WELCOME", "PAYMENT_RECEIPT"]
    assert len(await notify.wait_mails(email, 2)) == 2


async def test_an_account_not_announced_is_asked_of_users(notify: Notify) -> None:
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    registered = await gql(
        f"{notify.settings.users_url}/graphql",
        "mutation($i: RegisterInput!) { register(input: $i) { user { id } } }",
        {"i": {"email": email, "password": "a-long-password-1", "name": "Linus"}},
    )
    user = registered.ok()["register"]["user"]["id"]
    await notify.publish("payment.succeeded", _charge(user, provider="SANDBOX"))
    (mail,) = await notify.wait_mails(email, 1)
    assert str(mail["To"]) == f"Linus <{email}>"


async def test_an_unknown_account_gets_the_notification_without_mail(notify: Notify) -> None:
    user = str(uuid.uuid4())  # users has no such account
    await notify.publish("payment.succeeded", _charge(user, provider="SANDBOX"))
    (row,) = await notify.wait_notifications(user, 1)
    assert row.kind == "PAYMENT_RECEIPT"
    assert await notify.mail_rows(user) == []


async def test_a_restarted_consumer_misses_nothing_and_doubles_nothing(notify: Notify) -> None:
    user, email = await notify.register()
    await notify.wait_notifications(user, 1)
    notify.stop()
    # Published while notifications is down: JetStream keeps them for its durable.
    first = await notify.publish("enrollment.created", _enrollment("ACTIVE")(user))
    notify.start()
    await notify.wait_notifications(user, 2)
    # Stopped again right after another event, handled or not yet.
    await notify.publish("enrollment.completed", _enrollment("COMPLETED")(user))
    notify.stop()
    await notify.publish_again(first)
    notify.start()
    await notify.publish("payment.succeeded", _charge(user, provider="SANDBOX"))
    rows = await notify.wait_notifications(user, 4)
    assert [r.kind for r in rows] == ["WELCOME", "ENROLLED", "COURSE_COMPLETED", "PAYMENT_RECEIPT"]
    mails = await notify.wait_mails(email, 4)
    assert len(mails) == 4
    assert len({str(m["Message-ID"]) for m in mails}) == 4


async def test_preferences_are_read_when_the_event_is_consumed(notify: Notify) -> None:
    user, email = await notify.register()
    await notify.wait_mails(email, 1)
    changed = await notify.gql(
        """mutation($i: UpdateNotificationPreferencesInput!) {
             updateNotificationPreferences(input: $i) { category email inApp } }""",
        {"i": {"preferences": [{"category": "LEARNING", "email": False}]}},
        token=notify.token(user),
    )
    changed.ok()
    await notify.publish("enrollment.created", _enrollment("ACTIVE")(user))
    await notify.publish("payment.succeeded", _charge(user, provider="SANDBOX"))
    rows = await notify.wait_notifications(user, 3)
    assert [r.kind for r in rows] == ["WELCOME", "ENROLLED", "PAYMENT_RECEIPT"]
    await notify.wait_sent(user, 2)
    subjects = sorted(str(m["Subject"]) for m in notify.mails(email))
    assert subjects == ["Welcome to Coursegraph", "Your receipt"]


async def test_an_invalid_event_does_not_block_the_next(notify: Notify) -> None:
    user, _email = await notify.register()
    poison = await notify.publish("payment.succeeded", {"paymentId": "x", "userId": user})
    await notify.publish("payment.succeeded", _charge(user, provider="SANDBOX"))
    rows = await notify.wait_notifications(user, 2)
    assert [r.kind for r in rows] == ["WELCOME", "PAYMENT_RECEIPT"]
    async with notify.database.read() as session:
        reason = await session.scalar(
            select(dead_letters.c.reason).where(
                dead_letters.c.consumer == "notifications", dead_letters.c.event_id == poison.id
            )
        )
    assert reason is not None
    assert "payment.succeeded" in reason
