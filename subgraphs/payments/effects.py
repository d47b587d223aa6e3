"""What payments' events do to courses, delivered by the outbox relay (at least once).

Effects are state-based, so their order does not matter (I4): courses keys every paid
seat on the payment id and a payment's row there only moves forward (seat → frozen →
DROPPED). A completion that arrives after the refund's freeze or drop finds that row and
creates nothing; a drop that arrives before the completion writes a DROPPED row the
completion then finds. As a saving, not a guard, a completion is not even sent for a
payment that is no longer SUCCEEDED or has a refund under way.
"""

from __future__ import annotations

import uuid

from sqlalchemy import exists, select

from coursegraph.db import Database
from coursegraph.errors import BadUserInput, Conflict, DomainError, NotFound
from coursegraph.events import Event
from coursegraph.log import get_logger
from coursegraph.outbox import Handler
from subgraphs.payments.clients import CoursesClient
from subgraphs.payments.models import Payment, Refund

log = get_logger("coursegraph.payments.effects")

PAYMENT_SUCCEEDED = "payment.succeeded"
PAYMENT_REFUNDED = "payment.refunded"
PERMANENT_ERRORS = (Conflict, NotFound, BadUserInput)


def outbox_handlers(database: Database, courses: CoursesClient) -> dict[str, Handler]:
    """What each payments event does to courses; courses' mutations are idempotent."""

    async def complete_enrollment(event: Event) -> None:
        payload = event.payload
        if not await _still_kept(database, payload["paymentId"]):
            log.info("completion skipped: payment no longer kept", payment_id=payload["paymentId"])
            return
        try:
            await courses.complete_paid_enrollment(
                payload["userId"], payload["courseId"], payload["paymentId"]
            )
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

    return {PAYMENT_SUCCEEDED: complete_enrollment, PAYMENT_REFUNDED: drop_enrollment}


async def _still_kept(database: Database, payment_id: str) -> bool:
    """SUCCEEDED and no refund under way (a FAILED refund changes nothing)."""
    refunding = exists().where(Refund.payment_id == Payment.id, Refund.status != "FAILED")
    async with database.read() as session:
        kept = await session.scalar(
            select(Payment.id).where(
                Payment.id == uuid.UUID(payment_id), Payment.status == "SUCCEEDED", ~refunding
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
