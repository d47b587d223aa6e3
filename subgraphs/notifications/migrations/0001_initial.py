"""initial

Revision ID: notifications_0001
Revises:
Create Date: 2026-12-06 13:32:31.232278
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "notifications_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.String(length=100), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column(
            "failed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("replay_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
        sa.UniqueConstraint("consumer", "event_id", name="uq_dead_letters_consumer_event_id"),
        schema="notifications",
    )
    op.create_index(
        "ix_dead_letters_replay",
        "dead_letters",
        ["consumer"],
        unique=False,
        schema="notifications",
        postgresql_where="replay_requested_at IS NOT NULL",
    )
    op.create_table(
        "mails",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("to_address", sa.String(length=254), nullable=False),
        sa.Column("to_name", sa.String(length=100), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=False),
        sa.Column("unsubscribe_url", sa.String(length=1000), nullable=True),
        sa.Column("message_id", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="PENDING", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('WELCOME', 'ENROLLED', 'COURSE_COMPLETED', 'ENROLLMENT_DROPPED', 'CERTIFICATE_ISSUED', 'PAYMENT_RECEIPT', 'PAYMENT_FAILED', 'REFUND_CONFIRMED', 'VIDEO_READY', 'VIDEO_FAILED')",  # noqa: E501
            name=op.f("ck_mails_kind"),
        ),
        sa.CheckConstraint("status IN ('PENDING', 'SENT', 'FAILED')", name=op.f("ck_mails_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mails")),
        sa.UniqueConstraint("event_id", "user_id", name="uq_mails_event_user"),
        sa.UniqueConstraint("message_id", name=op.f("uq_mails_message_id")),
        schema="notifications",
    )
    op.create_index(
        "ix_mails_due",
        "mails",
        ["next_attempt_at"],
        unique=False,
        schema="notifications",
        postgresql_where=sa.text("status = 'PENDING'"),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("course_id", sa.String(length=64), nullable=True),
        sa.Column("course_title", sa.String(length=200), nullable=True),
        sa.Column("payment_id", sa.String(length=64), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("certificate_code", sa.String(length=100), nullable=True),
        sa.Column("lecture_id", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "category IN ('ACCOUNT', 'LEARNING', 'PAYMENTS', 'VIDEO')",
            name=op.f("ck_notifications_category"),
        ),
        sa.CheckConstraint(
            "kind IN ('WELCOME', 'ENROLLED', 'COURSE_COMPLETED', 'ENROLLMENT_DROPPED', 'CERTIFICATE_ISSUED', 'PAYMENT_RECEIPT', 'PAYMENT_FAILED', 'REFUND_CONFIRMED', 'VIDEO_READY', 'VIDEO_FAILED')",  # noqa: E501
            name=op.f("ck_notifications_kind"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("event_id", "user_id", name="uq_notifications_event_user"),
        schema="notifications",
    )
    op.create_index(
        "ix_notifications_user_created",
        "notifications",
        ["user_id", "created_at", "id"],
        unique=False,
        schema="notifications",
    )
    op.create_index(
        "ix_notifications_user_unread",
        "notifications",
        ["user_id", "created_at", "id"],
        unique=False,
        schema="notifications",
        postgresql_where=sa.text("read_at IS NULL"),
    )
    op.create_table(
        "preferences",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("email", sa.Boolean(), nullable=False),
        sa.Column("in_app", sa.Boolean(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "category IN ('ACCOUNT', 'LEARNING', 'PAYMENTS', 'VIDEO')",
            name=op.f("ck_preferences_category"),
        ),
        sa.CheckConstraint(
            "category NOT IN ('PAYMENTS') OR (email AND in_app)",
            name=op.f("ck_preferences_transactional_on"),
        ),
        sa.PrimaryKeyConstraint("user_id", "category", name=op.f("pk_preferences")),
        schema="notifications",
    )
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.String(length=100), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_processed_events")),
        schema="notifications",
    )
    op.create_table(
        "recipients",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_recipients")),
        schema="notifications",
    )


def downgrade() -> None:
    op.drop_table("recipients", schema="notifications")
    op.drop_table("processed_events", schema="notifications")
    op.drop_table("preferences", schema="notifications")
    op.drop_index(
        "ix_notifications_user_unread",
        table_name="notifications",
        schema="notifications",
        postgresql_where=sa.text("read_at IS NULL"),
    )
    op.drop_index(
        "ix_notifications_user_created", table_name="notifications", schema="notifications"
    )
    op.drop_table("notifications", schema="notifications")
    op.drop_index(
        "ix_mails_due",
        table_name="mails",
        schema="notifications",
        postgresql_where=sa.text("status = 'PENDING'"),
    )
    op.drop_table("mails", schema="notifications")
    op.drop_index(
        "ix_dead_letters_replay",
        table_name="dead_letters",
        schema="notifications",
        postgresql_where="replay_requested_at IS NOT NULL",
    )
    op.drop_table("dead_letters", schema="notifications")
