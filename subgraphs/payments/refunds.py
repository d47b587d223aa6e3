"""Refunds: who may ask, how much (prorated by progress, rounded down), one live refund
per payment, through the payment's provider. Courses freezes the seat before money moves
and drops it (revoking any certificate) through the outbox once the refund settled."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from coursegraph.db import Database, is_unique_violation
from coursegraph.errors import (
    BadUserInput,
    Conflict,
    Forbidden,
    PaymentFailed,
    ServiceUnavailable,
)
from coursegraph.identity import Viewer
from coursegraph.log import get_logger
from coursegraph.money import to_minor
from coursegraph.outbox import OutboxRelay
from subgraphs.payments.clients import CoursesClient
from subgraphs.payments.ledger import live_refund, lock_payment, settle_refund
from subgraphs.payments.models import ClosedReason, Payment, PaymentStatus, Refund, RefundStatus
from subgraphs.payments.policy import may_override_refund_rules
from subgraphs.payments.providers.base import (
    PROVIDER_UNAVAILABLE,
    ProviderDeclined,
    ProviderUnavailable,
    RefundRequest,
)
from subgraphs.payments.service import PaymentService

log = get_logger("coursegraph.payments.refunds")

HUNDRED = Decimal(100)

# What the automatic refund of a charge that holds no seat says (I1), per closed reason.
CLOSED_REASONS: dict[str, str] = {
    ClosedReason.SUPERSEDED: "Paid after its checkout was replaced (price change or expiry).",
    ClosedReason.CANCELED: "Paid after its checkout was canceled.",
    ClosedReason.DUPLICATE: "Another payment already holds this seat.",
    ClosedReason.SEAT_HELD: "You already hold this seat.",
    ClosedReason.COURSE_FREE: "The course became free; your seat is free.",
}


@dataclass(frozen=True, slots=True)
class RefundAmount:
    """An explicit refund amount (ADMIN only), as the client wrote it."""

    amount: Decimal
    currency: str


def prorated_refund(paid_minor: int, progress_percentage: Decimal) -> int:
    """paid * (1 - progress/100), rounded down to whole minor units; exact Decimal math."""
    progress = min(max(progress_percentage, Decimal(0)), HUNDRED)
    share = Decimal(paid_minor) * (HUNDRED - progress) / HUNDRED
    return int(share.to_integral_value(rounding=ROUND_FLOOR))


class RefundService:
    def __init__(
        self,
        database: Database,
        payments: PaymentService,
        courses: CoursesClient,
        relay: OutboxRelay,
        refund_window_days: int,
    ) -> None:
        self._db = database
        self._payments = payments
        self._courses = courses
        self._relay = relay
        self._refund_window = timedelta(days=refund_window_days)

    async def request_refund(
        self,
        viewer: Viewer,
        payment_id: str,
        reason: str | None,
        amount: RefundAmount | None = None,
    ) -> Refund:
        """Freeze the seat in courses, price the refund from the frozen enrollment, then
        refund at the provider; a refusal there unfreezes the seat (I2, I3)."""
        payment = await self._payments.get_for_viewer(viewer, payment_id)
        if amount is not None and not may_override_refund_rules(viewer):
            raise Forbidden("Only an admin may choose the refund amount.", field="amount")
        reason = " ".join(reason.split())[:500] if reason else None
        existing = await self._live_refund_of(payment.id)
        if existing is not None:
            return await self._finish_refund(existing)
        if payment.status != PaymentStatus.SUCCEEDED:
            raise Conflict("Only a succeeded payment can be refunded.")
        assert payment.succeeded_at is not None
        if datetime.now(UTC) - payment.succeeded_at > self._refund_window:
            days = self._refund_window.days
            raise Conflict(f"Refunds are possible for {days} days after payment.")
        explicit_minor = _explicit_minor(amount, payment) if amount is not None else None
        # Money moves only after courses froze the seat: from here progress and
        # certificates wait, and the progress read is the one the amount comes from.
        seat = await self._courses.freeze_enrollment_for_payment(
            str(payment.user_id),
            payment.course_id,
            str(payment.id),
            allow_certificate=may_override_refund_rules(viewer),
        )
        if seat.certificate_issued and not may_override_refund_rules(viewer):
            raise Conflict("A certificate was issued for this course: no refund.")
        # A payment whose seat is gone (or never came) is refunded in full.
        progress = seat.progress_percentage if seat.holds_seat else Decimal(0)
        refund_minor = (
            explicit_minor
            if explicit_minor is not None
            else prorated_refund(payment.amount_minor, progress)
        )
        if refund_minor <= 0:
            await self._courses.unfreeze_enrollment_for_payment(str(payment.id))
            raise Conflict("Nothing is left to refund: the course is complete.")
        try:
            async with self._db.transaction() as session:
                locked = await lock_payment(session, payment.id)
                # A concurrent request may have refunded while this one froze the seat;
                # it froze the same seat and read the same progress.
                refund = await live_refund(session, payment.id)
                if refund is None:
                    if locked.status != PaymentStatus.SUCCEEDED:
                        raise Conflict("Only a succeeded payment can be refunded.")
                    refund = Refund(
                        id=uuid.uuid4(),
                        payment_id=payment.id,
                        amount_minor=refund_minor,
                        currency=payment.currency,
                        status=RefundStatus.PENDING,
                        reason=reason,
                        requested_by=uuid.UUID(viewer.id),
                    )
                    session.add(refund)
                    await session.flush()
        except IntegrityError as error:
            if not is_unique_violation(error, "uq_refunds_one_live"):
                raise
            # A concurrent request created the refund: this one is a repeat.
            refund = await self._live_refund_of(payment.id)
            assert refund is not None
        # Outside the transaction: the provider call must not hold the payment's lock.
        return await self._finish_refund(refund)

    async def refund_unkept(self, payment_id: str, reason: str | None) -> None:
        """I1: refund a settled charge that holds no seat, in full, and say why on the
        payment. Idempotent (one live refund per payment); an unreachable provider
        raises, so the outbox tries again."""
        key = uuid.UUID(payment_id)
        try:
            async with self._db.transaction() as session:
                payment = await lock_payment(session, key)
                if reason is not None and payment.closed_reason is None:
                    payment.closed_reason = reason
                refund = await live_refund(session, key)
                if refund is None:
                    if payment.status != PaymentStatus.SUCCEEDED:
                        return
                    refund = Refund(
                        id=uuid.uuid4(),
                        payment_id=key,
                        amount_minor=payment.amount_minor,
                        currency=payment.currency,
                        status=RefundStatus.PENDING,
                        reason=CLOSED_REASONS[payment.closed_reason or ClosedReason.SEAT_HELD],
                    )
                    session.add(refund)
                    await session.flush()
        except IntegrityError as error:
            if not is_unique_violation(error, "uq_refunds_one_live"):
                raise
            refund = await self._live_refund_of(key)
            assert refund is not None
        await self._finish_refund(refund)

    async def _live_refund_of(self, payment_id: uuid.UUID) -> Refund | None:
        async with self._db.read() as session:
            return await live_refund(session, payment_id)

    async def resume(self, refund: Refund) -> Refund:
        """Ask the provider again for a refund left PENDING (the reconciler's repair)."""
        return await self._finish_refund(refund)

    async def _finish_refund(self, refund: Refund) -> Refund:
        """Ask the provider (again) until it has answered once; the idempotency key is
        the refund's, so repeats and races refund once at the provider too. A refusal
        fails the refund and unfreezes the seat; an unreachable provider leaves both as
        they are (the money may have moved), for the next request or the reconciler."""
        if refund.provider_refund_id is not None or refund.status != RefundStatus.PENDING:
            return refund
        async with self._db.read() as session:
            payment = await session.get(Payment, refund.payment_id)
        assert payment is not None
        assert payment.provider_ref is not None
        adapter = self._payments.provider(payment.provider)
        request = RefundRequest(
            provider_ref=payment.provider_ref,
            gateway_payment_id=payment.gateway_payment_id,
            amount_minor=refund.amount_minor,
            currency=refund.currency,
            idempotency_key=f"refund-{refund.id}",
        )
        try:
            result = await adapter.refund(request)
        except ProviderUnavailable as error:
            log.warning("refund not confirmed by the provider", refund_id=str(refund.id))
            raise ServiceUnavailable(PROVIDER_UNAVAILABLE) from error
        except ProviderDeclined as error:
            async with self._db.transaction() as session:
                await session.execute(
                    update(Refund)
                    .where(Refund.id == refund.id, Refund.provider_refund_id.is_(None))
                    .values(status=RefundStatus.FAILED, failure_reason=str(error)[:2000])
                )
            await self._courses.unfreeze_enrollment_for_payment(str(payment.id))
            log.warning("refund refused", refund_id=str(refund.id), error=str(error))
            raise PaymentFailed(f"The refund was refused: {error}") from None
        async with self._db.transaction() as session:
            locked = await lock_payment(session, payment.id)
            fresh = await session.get(
                Refund, refund.id, with_for_update=True, populate_existing=True
            )
            assert fresh is not None
            await settle_refund(session, locked, fresh, result.provider_refund_id, result.state)
        if fresh.status == RefundStatus.FAILED:
            await self._courses.unfreeze_enrollment_for_payment(str(payment.id))
        self._relay.wake()
        return fresh


def _explicit_minor(amount: RefundAmount, payment: Payment) -> int:
    """An ADMIN's refund amount, in the payment's currency and within what was paid."""
    money = to_minor(amount.amount, amount.currency)
    if money.currency != payment.currency:
        raise BadUserInput(f"Refunds are in {payment.currency}.", field="amount")
    if not 0 < money.minor <= payment.amount_minor:
        raise BadUserInput("The refund must be more than 0 and at most the amount paid.")
    return money.minor
