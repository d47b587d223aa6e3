"""initial

Revision ID: payments_0001
Revises:
Create Date: 2026-11-26 04:42:00.475320
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "payments_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_dedupe_key")),
        schema="payments",
    )
    op.create_index(
        "ix_outbox_due",
        "outbox",
        ["next_attempt_at"],
        unique=False,
        schema="payments",
        postgresql_where="delivered_at IS NULL",
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("refunded_minor", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("provider_ref", sa.String(length=100), nullable=True),
        sa.Column("client_secret", sa.String(length=300), nullable=True),
        sa.Column("checkout_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("gateway_payment_id", sa.String(length=100), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("succeeded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "provider IN ('STRIPE', 'RAZORPAY', 'SANDBOX')", name=op.f("ck_payments_provider")
        ),
        sa.CheckConstraint(
            "status IN ('PENDING', 'SUCCEEDED', 'FAILED', 'CANCELED', 'REFUNDED', 'PARTIALLY_REFUNDED')",  # noqa: E501
            name=op.f("ck_payments_status"),
        ),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_payments_amount_positive")),
        sa.CheckConstraint(
            "refunded_minor >= 0 AND refunded_minor <= amount_minor",
            name=op.f("ck_payments_refunded_range"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("provider", "provider_ref", name="uq_payments_provider_ref"),
        schema="payments",
    )
    op.create_index(
        "ix_payments_user_id_created_at",
        "payments",
        ["user_id", "created_at"],
        unique=False,
        schema="payments",
    )
    op.create_index(
        "uq_payments_one_pending",
        "payments",
        ["user_id", "course_id", "provider"],
        unique=True,
        schema="payments",
        postgresql_where=sa.text("status = 'PENDING'"),
    )
    op.create_table(
        "sandbox_checkouts",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("gateway_payment_id", sa.String(length=100), nullable=True),
        sa.Column("refunded_minor", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('OPEN', 'SUCCEEDED', 'FAILED')", name=op.f("ck_sandbox_checkouts_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_checkouts")),
        sa.UniqueConstraint("gateway_payment_id", name="uq_sandbox_checkouts_gateway_payment_id"),
        sa.UniqueConstraint("reference", name=op.f("uq_sandbox_checkouts_reference")),
        schema="payments",
    )
    op.create_table(
        "webhook_events",
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("provider", "event_id", name=op.f("pk_webhook_events")),
        schema="payments",
    )
    op.create_table(
        "refunds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column("provider_refund_id", sa.String(length=100), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('PENDING', 'SUCCEEDED', 'FAILED')", name=op.f("ck_refunds_status")
        ),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_refunds_amount_positive")),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.payments.id"],
            name=op.f("fk_refunds_payment_id_payments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("payment_id", name="uq_refunds_payment_id"),
        sa.UniqueConstraint("provider_refund_id", name="uq_refunds_provider_refund_id"),
        schema="payments",
    )
    op.create_table(
        "sandbox_refunds",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("checkout_id", sa.String(length=100), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["checkout_id"],
            ["payments.sandbox_checkouts.id"],
            name=op.f("fk_sandbox_refunds_checkout_id_sandbox_checkouts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_refunds")),
        schema="payments",
    )


def downgrade() -> None:
    op.drop_table("sandbox_refunds", schema="payments")
    op.drop_table("refunds", schema="payments")
    op.drop_table("webhook_events", schema="payments")
    op.drop_table("sandbox_checkouts", schema="payments")
    op.drop_index(
        "uq_payments_one_pending",
        table_name="payments",
        schema="payments",
        postgresql_where=sa.text("status = 'PENDING'"),
    )
    op.drop_index("ix_payments_user_id_created_at", table_name="payments", schema="payments")
    op.drop_table("payments", schema="payments")
    op.drop_index(
        "ix_outbox_due",
        table_name="outbox",
        schema="payments",
        postgresql_where="delivered_at IS NULL",
    )
    op.drop_table("outbox", schema="payments")
