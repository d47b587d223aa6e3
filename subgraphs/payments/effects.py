"""What payments' events do, delivered by the outbox relay (at least once): complete or
drop the seat in courses, and refund a charge that holds no seat (I1).

Effects are state-based, so their order does not matter (I4): courses keys every paid
seat on the payment id and a payment's row there only moves forward (seat → frozen →
DROPPED). A completion that arrives after the refund's freeze or drop finds that row and
creates nothing; a drop that arrives before the completion writes a DROPPED row the
completion then finds. As a saving, not a guard, a completion is not even sent for a
payment that is no longer SUCCEEDED or has a refund under way.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy import exists, select

from coursegraph.db import Database
from coursegraph.errors import BadUserInput, Conflict, DomainError, NotFound, PaymentFailed
from coursegraph.events import Event
from coursegraph.log import get_logger
from coursegraph.outbox import Handler
from subgraphs.payments.clients import CoursesClient, PaidEnrollment
from subgraphs.payments.models import ClosedReason, Payment, PaymentStatus, Refund, RefundStatus

log = get_logger("coursegraph.payments.effects")

PAYMENT_SUCCEEDED = "payment.succeeded"
PAYMENT_REFUNDED = "payment.refunded"
# A settled charge of a closed checkout: refunded in full, never completed (I1).
PAYMENT_UNKEPT = "payment.unkept"
PERMANENT_ERRORS = (Conflict, NotFound, BadUserInput, PaymentFailed)

# Refunds a settled charge in full, recording why it is not kept (None: already known).
RefundUnkept = Callable[[str, str | None], Awaitable[None]]


def outbox_handlers(
    database: Database, courses: CoursesClient, refund_unkept: RefundUnkept
) -> dict[str, Handler]:
    """What each payments event does; courses' mutations and refunds are idempotent."""

    async def complete_enrollment(event: Event) -> None:
        payload = event.payload
        payment_id = payload["paymentId"]
        if not await _still_kept(database, payment_id):
            log.info("completion skipped: payment no longer kept", payment_id=payment_id)
            return
        try:
            seat = await courses.complete_paid_enrollment(
                payload["userId"], payload["courseId"], payment_id
            )
            if seat.payment_id == payment_id and seat.holds_seat:
                return
            # I1: the charge holds no seat (another does, or the course became free).
            reason = await _unkept_reason(courses, seat, payment_id, payload["courseId"])
            log.warning("charge holds no seat; refunding", payment_id=payment_id, reason=reason)
            await refund_unkept(payment_id, reason)
        except PERMANENT_ERRORS as error:
            _give_up(event, error)

    async def refund_closed(event: Event) -> None:
        try:
            await refund_unkept(event.payload["paymentId"], None)
        except PERMANENT_ERRORS as error:
            _give_up(event, error)

    async def drop_enrollment(event: Event) -> None:
        payload = event.payload
        try:
            await courses.drop_enrollment_for_payment(
                payload["paymentId"], payload.get("userId"), payload.get("courseId")
            )
        except PERMANENT_ERRORS as error:
            _give_up(event, error)

    return {
        PAYMENT_SUCCEEDED: complete_enrollment,
        PAYMENT_REFUNDED: drop_enrollment,
        PAYMENT_UNKEPT: refund_closed,
    }


async def _unkept_reason(
    courses: CoursesClient, seat: PaidEnrollment, payment_id: str, course_id: str
) -> str:
    if seat.payment_id is not None and seat.payment_id != payment_id:
        return ClosedReason.DUPLICATE
    if seat.payment_id is None:
        # A free seat: held before, or made because the course turned free meanwhile.
        pricing = await courses.course_pricing(course_id)
        if pricing is not None and pricing.is_free:
            return ClosedReason.COURSE_FREE
    return ClosedReason.SEAT_HELD


async def _still_kept(database: Database, payment_id: str) -> bool:
    """SUCCEEDED and no refund under way (a FAILED refund changes nothing)."""
    refunding = exists().where(
        Refund.payment_id == Payment.id, Refund.status != RefundStatus.FAILED
    )
    async with database.read() as session:
        kept = await session.scalar(
            select(Payment.id).where(
                Payment.id == uuid.UUID(payment_id),
                Payment.status == PaymentStatus.SUCCEEDED,
                ~refunding,
            )
        )
    return kept is not None


def _give_up(event: Event, error: DomainError) -> None:
    # Retrying cannot change courses' answer; a person has to look at it.
    log.error(
        "courses refused a payment effect; not retried",
        topic=event.topic,
        event_id=event.id,
        payment_id=event.payload.get("paymentId"),
        error=error.message,
    )
