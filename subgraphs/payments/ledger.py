"""Row changes of a payment and its refund made under the payment's lock, shared by the
checkout (`service.py`: provider webhooks) and the refunds (`refunds.py`).

Below both services, so neither imports the other for them.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from coursegraph import outbox
from subgraphs.payments.effects import PAYMENT_REFUNDED
from subgraphs.payments.models import Payment, PaymentStatus, Refund, RefundStatus
from subgraphs.payments.models import outbox as outbox_table
from subgraphs.payments.providers.base import RefundState
from subgraphs.payments.providers.base import WebhookEvent as ProviderEvent


async def lock_payment(session: AsyncSession, payment_id: uuid.UUID) -> Payment:
    """The payment's row under `SELECT … FOR UPDATE`: every status change holds it."""
    payment = await session.get(Payment, payment_id, with_for_update=True, populate_existing=True)
    assert payment is not None
    return payment


async def live_refund(session: AsyncSession, payment_id: uuid.UUID) -> Refund | None:
    """The payment's one refund that is not FAILED (a partial unique index keeps it one)."""
    refund: Refund | None = await session.scalar(
        select(Refund).where(Refund.payment_id == payment_id, Refund.status != RefundStatus.FAILED)
    )
    return refund


async def settle_refund(
    session: AsyncSession,
    payment: Payment,
    refund: Refund,
    provider_refund_id: str | None,
    state: RefundState,
) -> None:
    """Record the provider's answer; the payment changes once. Caller holds its lock."""
    if provider_refund_id and refund.provider_refund_id is None:
        refund.provider_refund_id = provider_refund_id
    if state is RefundState.FAILED:
        if refund.status != RefundStatus.SUCCEEDED:
            refund.status = RefundStatus.FAILED
        return
    if state is RefundState.SUCCEEDED or refund.status == RefundStatus.FAILED:
        refund.status = state.value
    refund.failure_reason = None
    if payment.status != PaymentStatus.SUCCEEDED:
        return
    payment.refunded_minor = refund.amount_minor
    payment.status = (
        PaymentStatus.REFUNDED
        if refund.amount_minor >= payment.amount_minor
        else PaymentStatus.PARTIALLY_REFUNDED
    )
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
    refund = await live_refund(session, payment.id)
    if refund is None:
        # Refunded at the provider (its dashboard): record it as ours would be.
        amount = event.refund_amount_minor or 0
        if payment.status != PaymentStatus.SUCCEEDED or not 0 < amount <= payment.amount_minor:
            return
        refund = Refund(
            id=uuid.uuid4(),
            payment_id=payment.id,
            amount_minor=amount,
            currency=payment.currency,
            status=RefundStatus.PENDING,
            reason="Refunded at the provider.",
        )
        session.add(refund)
        await session.flush()
    await settle_refund(session, payment, refund, event.provider_refund_id, RefundState.SUCCEEDED)
