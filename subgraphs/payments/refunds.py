"""Refunds: who may ask, how much (prorated by progress, rounded down), one live refund
per payment, through the payment's provider. Courses freezes the seat before money moves
and drops it (revoking any certificate) through the outbox once the refund settled."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from coursegraph import outbox
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
from coursegraph.settings import Settings
from subgraphs.payments.clients import CoursesClient
from subgraphs.payments.effects import PAYMENT_REFUNDED
from subgraphs.payments.models import Payment, Refund
from subgraphs.payments.models import outbox as outbox_table
from subgraphs.payments.providers.base import (
    PROVIDER_UNAVAILABLE,
    ProviderDeclined,
    ProviderUnavailable,
    RefundRequest,
    RefundState,
)
from subgraphs.payments.providers.base import WebhookEvent as ProviderEvent

if TYPE_CHECKING:
    from subgraphs.payments.service import PaymentService

log = get_logger("coursegraph.payments.refunds")

HUNDRED = Decimal(100)

# What the automatic refund of a charge that holds no seat says (I1), per closed reason.
CLOSED_REASONS = {
    "SUPERSEDED": "Paid after its checkout was replaced (price change or expiry).",
    "CANCELED": "Paid after its checkout was canceled.",
    "DUPLICATE": "Another payment already holds this seat.",
    "SEAT_HELD": "You already hold this seat.",
    "COURSE_FREE": "The course became free; your seat is free.",
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


async def lock_payment(session: AsyncSession, payment_id: uuid.UUID) -> Payment:
    """The payment's row under `SELECT … FOR UPDATE`: every status change holds it."""
    payment = await session.get(Payment, payment_id, with_for_update=True, populate_existing=True)
    assert payment is not None
    return payment


class RefundService:
    def __init__(
        self,
        database: Database,
        payments: PaymentService,
        courses: CoursesClient,
        relay: OutboxRelay,
        settings: Settings,
    ) -> None:
        self._db = database
        self._payments = payments
        self._courses = courses
        self._relay = relay
        self._refund_window = timedelta(days=settings.refund_window_days)

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
        if amount is not None and not viewer.is_admin:
            raise Forbidden("Only an admin may choose the refund amount.", field="amount")
        reason = " ".join(reason.split())[:500] if reason else None
        existing = await self._live_refund_of(payment.id)
        if existing is not None:
            return await self._finish_refund(existing)
        if payment.status != "SUCCEEDED":
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
            allow_certificate=viewer.is_admin,
        )
        if seat.certificate_issued and not viewer.is_admin:
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
                refund = await _live_refund(session, payment.id)
                if refund is None:
                    if locked.status != "SUCCEEDED":
                        raise Conflict("Only a succeeded payment can be refunded.")
                    refund = Refund(
                        id=uuid.uuid4(),
                        payment_id=payment.id,
                        amount_minor=refund_minor,
                        currency=payment.currency,
                        status="PENDING",
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
                refund = await _live_refund(session, key)
                if refund is None:
                    if payment.status != "SUCCEEDED":
                        return
                    refund = Refund(
                        id=uuid.uuid4(),
                        payment_id=key,
                        amount_minor=payment.amount_minor,
                        currency=payment.currency,
                        status="PENDING",
                        reason=CLOSED_REASONS[payment.closed_reason or "SEAT_HELD"],
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
            return await _live_refund(session, payment_id)

    async def resume(self, refund: Refund) -> Refund:
        """Ask the provider again for a refund left PENDING (the reconciler's repair)."""
        return await self._finish_refund(refund)

    async def _finish_refund(self, refund: Refund) -> Refund:
        """Ask the provider (again) until it has answered once; the idempotency key is
        the refund's, so repeats and races refund once at the provider too. A refusal
        fails the refund and unfreezes the seat; an unreachable provider leaves both as
        they are (the money may have moved), for the next request or the reconciler."""
        if refund.provider_refund_id is not None or refund.status != "PENDING":
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
                    .values(status="FAILED", failure_reason=str(error)[:2000])
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
        if fresh.status == "FAILED":
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


async def _live_refund(session: AsyncSession, payment_id: uuid.UUID) -> Refund | None:
    """The payment's one refund that is not FAILED (a partial unique index keeps it one)."""
    refund: Refund | None = await session.scalar(
        select(Refund).where(Refund.payment_id == payment_id, Refund.status != "FAILED")
    )
    return refund


def record_refund_answer(
    payment: Payment, refund: Refund, provider_refund_id: str | None, state: RefundState
) -> bool:
    """The refund's state machine, without I/O: the provider's answer on the refund and
    the payment; True when it refunded the payment, which happens once."""
    if provider_refund_id and refund.provider_refund_id is None:
        refund.provider_refund_id = provider_refund_id
    if state is RefundState.FAILED:
        if refund.status != "SUCCEEDED":
            refund.status = "FAILED"
        return False
    if state is RefundState.SUCCEEDED or refund.status == "FAILED":
        refund.status = state.value
    refund.failure_reason = None
    if payment.status != "SUCCEEDED":
        return False
    payment.refunded_minor = refund.amount_minor
    payment.status = (
        "REFUNDED" if refund.amount_minor >= payment.amount_minor else "PARTIALLY_REFUNDED"
    )
    return True


async def settle_refund(
    session: AsyncSession,
    payment: Payment,
    refund: Refund,
    provider_refund_id: str | None,
    state: RefundState,
) -> None:
    """Record the provider's answer; the payment changes once. Caller holds its lock."""
    if not record_refund_answer(payment, refund, provider_refund_id, state):
        return
    await outbox.add(
        session,
        outbox_table,
        PAYMENT_REFUNDED,
        {
            "paymentId": str(payment.id),
            "userId": str(payment.user_id),
            "courseId": payment.course_id,
            "refundId": str(refund.id),
            "amountMinor": refund.amount_minor,
            "currency": refund.currency,
        },
        dedupe_key=f"payment:{payment.id}:refunded",
    )


async def apply_provider_refund(
    session: AsyncSession, payment: Payment, event: ProviderEvent
) -> None:
    """A provider's refund webhook; the caller holds the payment's lock."""
    refund = await _live_refund(session, payment.id)
    if refund is None:
        # Refunded at the provider (its dashboard): record it as ours would be.
        amount = event.refund_amount_minor or 0
        if payment.status != "SUCCEEDED" or not 0 < amount <= payment.amount_minor:
            return
        refund = Refund(
            id=uuid.uuid4(),
            payment_id=payment.id,
            amount_minor=amount,
            currency=payment.currency,
            status="PENDING",
            reason="Refunded at the provider.",
        )
        session.add(refund)
        await session.flush()
    await settle_refund(session, payment, refund, event.provider_refund_id, RefundState.SUCCEEDED)
