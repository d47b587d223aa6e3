"""Notifications' tables. Each event changes the world once: the consumer's dedupe row,
and unique (event, user) on notifications and mails, enforce it in the database."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from coursegraph.consumers import processed_events_table
from coursegraph.db import schema_metadata
from coursegraph.outbox import outbox_table


class Base(DeclarativeBase):
    metadata = schema_metadata("notifications")


# The durable consumer's dedupe rows, committed with what each event wrote.
processed_events = processed_events_table(Base.metadata)
# `notification.added`, written with each notification (subscriptions on any instance).
outbox = outbox_table(Base.metadata)


class Category(StrEnum):
    ACCOUNT = "ACCOUNT"
    LEARNING = "LEARNING"
    PAYMENTS = "PAYMENTS"
    VIDEO = "VIDEO"


# Receipts, refunds and failed payments: always sent, on every channel; their mails carry
# no List-Unsubscribe.
TRANSACTIONAL: frozenset[Category] = frozenset({Category.PAYMENTS})


class Kind(StrEnum):
    WELCOME = "WELCOME"
    ENROLLED = "ENROLLED"
    COURSE_COMPLETED = "COURSE_COMPLETED"
    ENROLLMENT_DROPPED = "ENROLLMENT_DROPPED"
    CERTIFICATE_ISSUED = "CERTIFICATE_ISSUED"
    PAYMENT_RECEIPT = "PAYMENT_RECEIPT"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    REFUND_CONFIRMED = "REFUND_CONFIRMED"
    VIDEO_READY = "VIDEO_READY"
    VIDEO_FAILED = "VIDEO_FAILED"


class MailStatus(StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"


def _one_of(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Recipient(Base):
    """Where a user's mail goes: kept from `user.registered`, else asked of users once."""

    __tablename__ = "recipients"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint(_one_of("category", Category), name="category"),
        CheckConstraint(_one_of("kind", Kind), name="kind"),
        UniqueConstraint("event_id", "user_id", name="uq_notifications_event_user"),
        # A user's pages, newest first (keyset on created_at, id).
        Index("ix_notifications_user_created", "user_id", "created_at", "id"),
        Index(
            "ix_notifications_user_unread",
            "user_id",
            "created_at",
            "id",
            postgresql_where=text("read_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    event_id: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(500))
    # What the notification is about, as typed columns (null where it does not apply).
    course_id: Mapped[str | None] = mapped_column(String(64))
    course_title: Mapped[str | None] = mapped_column(String(200))
    payment_id: Mapped[str | None] = mapped_column(String(64))
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    certificate_code: Mapped[str | None] = mapped_column(String(100))
    lecture_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Preference(Base):
    """A user's choice for one category; no row: every channel on."""

    __tablename__ = "preferences"
    __table_args__ = (
        CheckConstraint(_one_of("category", Category), name="category"),
        # Transactional mail cannot be switched off, whatever writes the row.
        CheckConstraint(
            "category NOT IN ("
            + ", ".join(repr(c.value) for c in sorted(TRANSACTIONAL))
            + ") OR (email AND in_app)",
            name="transactional_on",
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    category: Mapped[str] = mapped_column(String(16), primary_key=True)
    email: Mapped[bool] = mapped_column(Boolean)
    in_app: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Mail(Base):
    """The mail outbox: written with its notification in the consumer's transaction, sent
    by the mail sender (mail.py), which alone talks SMTP."""

    __tablename__ = "mails"
    __table_args__ = (
        CheckConstraint(_one_of("kind", Kind), name="kind"),
        CheckConstraint(_one_of("status", MailStatus), name="status"),
        UniqueConstraint("event_id", "user_id", name="uq_mails_event_user"),
        Index(
            "ix_mails_due",
            "next_attempt_at",
            postgresql_where=text("status = 'PENDING'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    event_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    kind: Mapped[str] = mapped_column(String(32))
    to_address: Mapped[str] = mapped_column(String(254))
    to_name: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(200))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    # Set on mail a person may opt out of (RFC 8058 headers); null on transactional mail.
    unsubscribe_url: Mapped[str | None] = mapped_column(String(1000))
    # Stable across retries: a resend after a crash carries the same Message-ID.
    message_id: Mapped[str] = mapped_column(String(300), unique=True)
    status: Mapped[str] = mapped_column(String(16), server_default=MailStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    # When the sender may take it next: now, after a backoff, or after a claim's lease.
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
