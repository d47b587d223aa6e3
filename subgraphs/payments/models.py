"""Payments' tables. Idempotency lives in unique constraints, not in reads before writes."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from coursegraph.db import one_of, schema_metadata
from coursegraph.outbox import outbox_table


class Base(DeclarativeBase):
    metadata = schema_metadata("payments")


outbox = outbox_table(Base.metadata)


class ProviderName(StrEnum):
    """The payment providers: the one list (adapters, settings, the GraphQL enum)."""

    STRIPE = "STRIPE"
    RAZORPAY = "RAZORPAY"
    SANDBOX = "SANDBOX"


class PaymentStatus(StrEnum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    REFUNDED = "REFUNDED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"


class RefundStatus(StrEnum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class ClosedReason(StrEnum):
    """Why payments closed a payment on its own (I1, I5): its checkout was superseded or
    canceled, or its charge holds no seat. A charge that settles anyway is refunded in full."""

    SUPERSEDED = "SUPERSEDED"
    CANCELED = "CANCELED"
    DUPLICATE = "DUPLICATE"
    SEAT_HELD = "SEAT_HELD"
    COURSE_FREE = "COURSE_FREE"


class SandboxStatus(StrEnum):
    OPEN = "OPEN"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


# A payment that already moved money; a late "failed" event must not undo it.
SETTLED = (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED, PaymentStatus.PARTIALLY_REFUNDED)


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint(one_of("provider", ProviderName), name="provider"),
        CheckConstraint(one_of("status", PaymentStatus), name="status"),
        CheckConstraint(one_of("closed_reason", ClosedReason), name="closed_reason"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint(
            "refunded_minor >= 0 AND refunded_minor <= amount_minor", name="refunded_range"
        ),
        # Two concurrent createPayment calls for the same course and provider end up
        # with one PENDING payment: the loser of the insert reuses the winner's row.
        Index(
            "uq_payments_one_pending",
            "user_id",
            "course_id",
            "provider",
            unique=True,
            postgresql_where=text("status = 'PENDING'"),
        ),
        # I6: webhooks name the provider's checkout object or its charge; each belongs
        # to exactly one payment, so a webhook matches one payment or none.
        UniqueConstraint("provider", "provider_ref", name="uq_payments_provider_ref"),
        Index(
            "uq_payments_gateway_payment_id",
            "provider",
            "gateway_payment_id",
            unique=True,
            postgresql_where=text("gateway_payment_id IS NOT NULL"),
        ),
        Index("ix_payments_user_id_created_at", "user_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    course_id: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24))
    # Copied from courses when the payment was created; never from the client.
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    refunded_minor: Mapped[int] = mapped_column(BigInteger, server_default="0", default=0)
    # The provider's checkout object (PaymentIntent, order, sandbox session) and what
    # the client needs to pay it; null until the provider accepted it.
    provider_ref: Mapped[str | None] = mapped_column(String(100))
    client_secret: Mapped[str | None] = mapped_column(String(300))
    checkout_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The provider's id of the completed charge (Razorpay payment, Stripe charge, …).
    gateway_payment_id: Mapped[str | None] = mapped_column(String(100))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    closed_reason: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    succeeded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint(one_of("status", RefundStatus), name="status"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        # One live refund per payment: a repeated request finds this row instead of
        # refunding again. One the provider refused (FAILED) leaves room for a new try.
        Index(
            "uq_refunds_one_live",
            "payment_id",
            unique=True,
            postgresql_where=text("status <> 'FAILED'"),
        ),
        UniqueConstraint("provider_refund_id", name="uq_refunds_provider_refund_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    payment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("payments.payments.id", ondelete="CASCADE")
    )
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(500))
    requested_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    provider_refund_id: Mapped[str | None] = mapped_column(String(100))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class WebhookEvent(Base):
    """Every provider event id seen; a replay hits the primary key and changes nothing."""

    __tablename__ = "webhook_events"

    provider: Mapped[str] = mapped_column(String(16), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(100))
    payment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class SandboxCheckout(Base):
    """The built-in sandbox provider's own records (what Stripe keeps on its side)."""

    __tablename__ = "sandbox_checkouts"
    __table_args__ = (
        CheckConstraint(one_of("status", SandboxStatus), name="status"),
        UniqueConstraint("gateway_payment_id", name="uq_sandbox_checkouts_gateway_payment_id"),
    )

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    # The merchant's reference (our payment id), as providers keep a receipt id.
    reference: Mapped[str] = mapped_column(String(100), unique=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    gateway_payment_id: Mapped[str | None] = mapped_column(String(100))
    refunded_minor: Mapped[int] = mapped_column(BigInteger, server_default="0", default=0)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SandboxRefund(Base):
    """Sandbox refunds keyed by the merchant's idempotency key, so a retry refunds once."""

    __tablename__ = "sandbox_refunds"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    checkout_id: Mapped[str] = mapped_column(
        String(100), ForeignKey("payments.sandbox_checkouts.id", ondelete="CASCADE")
    )
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
