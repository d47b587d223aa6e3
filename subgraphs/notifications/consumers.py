"""What other subgraphs' events do here: one handler per topic, run by the kernel's
durable consumer inside its transaction (with its dedupe row), so the notification, the
mail row and "this event was handled" commit together or not at all. Preferences are
read at consume time. The consumer never talks SMTP: mail.py sends what it wrote.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import parse, validate
from contracts.events.courses import (
    CertificateIssued,
    EnrollmentCompleted,
    EnrollmentCreated,
    EnrollmentDropped,
)
from contracts.events.files import VideoFailed, VideoReady
from contracts.events.payments import PaymentFailed, PaymentRefunded, PaymentSucceeded
from contracts.events.users import UserRegistered
from coursegraph.consumers import ConsumerSpec, PermanentEventError
from coursegraph.events import Event
from coursegraph.log import get_logger
from subgraphs.notifications import messages
from subgraphs.notifications.clients import UsersClient
from subgraphs.notifications.messages import Draft
from subgraphs.notifications.models import Recipient
from subgraphs.notifications.service import NotificationService

log = get_logger("coursegraph.notifications.consumers")

CONSUMER = "notifications"
LECTURE_VIDEO = "lecture_video"

Drafting = Callable[[Any], Draft | None]


def _welcome(e: UserRegistered) -> Draft:
    return messages.welcome(e.userId, e.name)


def _enrolled(e: EnrollmentCreated) -> Draft | None:
    # A paid seat: the receipt already tells the student they are in.
    if e.paymentId is not None:
        return None
    return messages.enrolled(e.userId, e.courseId, e.courseTitle)


def _completed(e: EnrollmentCompleted) -> Draft:
    return messages.completed(e.userId, e.courseId, e.courseTitle)


def _dropped(e: EnrollmentDropped) -> Draft | None:
    # A refund dropped it: the refund confirmation says so.
    if e.paymentId is not None:
        return None
    return messages.dropped(e.userId, e.courseId, e.courseTitle)


def _certificate(e: CertificateIssued) -> Draft:
    return messages.certificate(e.userId, e.courseId, e.courseTitle, e.verificationCode)


def _receipt(e: PaymentSucceeded) -> Draft:
    return messages.receipt(e.userId, e.paymentId, e.courseId, e.amountMinor, e.currency)


def _payment_failed(e: PaymentFailed) -> Draft:
    return messages.payment_failed(
        e.userId, e.paymentId, e.courseId, e.amountMinor, e.currency, e.reason
    )


def _refunded(e: PaymentRefunded) -> Draft:
    return messages.refunded(e.userId, e.paymentId, e.courseId, e.amountMinor, e.currency)


def _video_ready(e: VideoReady) -> Draft | None:
    if e.purpose != LECTURE_VIDEO or e.uploadedBy is None:
        return None
    return messages.video_ready(e.uploadedBy, e.ownerId)


def _video_failed(e: VideoFailed) -> Draft | None:
    if e.purpose != LECTURE_VIDEO or e.uploadedBy is None:
        return None
    return messages.video_failed(e.uploadedBy, e.ownerId, e.failureReason)


DRAFTS: dict[str, Drafting] = {
    UserRegistered.TOPIC: _welcome,
    EnrollmentCreated.TOPIC: _enrolled,
    EnrollmentCompleted.TOPIC: _completed,
    EnrollmentDropped.TOPIC: _dropped,
    CertificateIssued.TOPIC: _certificate,
    PaymentSucceeded.TOPIC: _receipt,
    PaymentFailed.TOPIC: _payment_failed,
    PaymentRefunded.TOPIC: _refunded,
    VideoReady.TOPIC: _video_ready,
    VideoFailed.TOPIC: _video_failed,
}


class NotificationConsumer:
    """The consumer's handler: the event's draft, its recipient, then the rows."""

    def __init__(self, notifications: NotificationService, users: UsersClient) -> None:
        self._notifications = notifications
        self._users = users

    def spec(self) -> ConsumerSpec:
        return ConsumerSpec(
            name=CONSUMER, topics=tuple(DRAFTS), handle=self.handle, validate=validate
        )

    async def handle(self, session: AsyncSession, event: Event) -> None:
        payload = parse(event)
        if isinstance(payload, UserRegistered):
            _user_id(payload.userId)
            await self._notifications.remember_recipient(
                session, payload.userId, payload.email, payload.name
            )
        draft = DRAFTS[event.topic](payload)
        if draft is None:
            return
        recipient = await self._recipient(session, draft.user_id)
        await self._notifications.record(session, event.id, draft, recipient)

    async def _recipient(self, session: AsyncSession, user_id: str) -> Recipient | None:
        _user_id(user_id)
        known = await self._notifications.recipient(session, user_id)
        if known is not None:
            return known
        # Not registered through an event we saw (older accounts, seeded ones): ask users
        # once and keep the answer. users down → the event is retried later.
        account = await self._users.account(user_id)
        if account is None:
            log.info("no account for a notification; in-app only", user_id=user_id)
            return None
        await self._notifications.remember_recipient(session, user_id, account.email, account.name)
        return await self._notifications.recipient(session, user_id)


def _user_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise PermanentEventError(f"not a user id: {value!r}") from None
