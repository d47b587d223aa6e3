"""What payments' events do to courses, delivered by the outbox relay (at least once;
courses' internal mutations are idempotent on the payment id)."""

from __future__ import annotations

from coursegraph.errors import BadUserInput, Conflict, DomainError, NotFound
from coursegraph.events import Event
from coursegraph.log import get_logger
from coursegraph.outbox import Handler
from subgraphs.payments.clients import CoursesClient

log = get_logger("coursegraph.payments.effects")

PAYMENT_SUCCEEDED = "payment.succeeded"
PAYMENT_REFUNDED = "payment.refunded"
PERMANENT_ERRORS = (Conflict, NotFound, BadUserInput)


def outbox_handlers(courses: CoursesClient) -> dict[str, Handler]:
    """What each payments event does to courses; courses' mutations are idempotent."""

    async def complete_enrollment(event: Event) -> None:
        payload = event.payload
        try:
            await courses.complete_paid_enrollment(
                payload["userId"], payload["courseId"], payload["paymentId"]
            )
        except PERMANENT_ERRORS as error:
            _give_up(event, error)

    async def drop_enrollment(event: Event) -> None:
        try:
            await courses.drop_enrollment_for_payment(event.payload["paymentId"])
        except PERMANENT_ERRORS as error:
            _give_up(event, error)

    return {PAYMENT_SUCCEEDED: complete_enrollment, PAYMENT_REFUNDED: drop_enrollment}


def _give_up(event: Event, error: DomainError) -> None:
    # Retrying cannot change courses' answer; a person has to look at it.
    log.error(
        "courses refused a payment effect; not retried",
        topic=event.topic,
        event_id=event.id,
        payment_id=event.payload.get("paymentId"),
        error=error.message,
    )
