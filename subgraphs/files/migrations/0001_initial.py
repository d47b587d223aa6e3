"""initial

Revision ID: files_0001
Revises:
Create Date: 2026-11-26 04:39:20.645034
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "files_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("storage_key", sa.String(length=100), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("processor", sa.String(length=16), nullable=True),
        sa.Column("processing_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("processing_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("mux_asset_id", sa.String(length=100), nullable=True),
        sa.Column("mux_playback_id", sa.String(length=100), nullable=True),
        sa.Column("upload_expires_at", sa.DateTime(timezone=True), nullable=False),
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
            "status IN ('PENDING_UPLOAD', 'UPLOADED', 'PROCESSING', 'READY', 'FAILED')",
            name=op.f("ck_files_status"),
        ),
        sa.CheckConstraint("size_bytes > 0", name=op.f("ck_files_size_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_files")),
        sa.UniqueConstraint("mux_asset_id", name=op.f("uq_files_mux_asset_id")),
        schema="files",
    )
    op.create_index(
        op.f("ix_files_files_owner_id"), "files", ["owner_id"], unique=False, schema="files"
    )
    op.create_index(
        "ix_files_processing_due",
        "files",
        ["processing_due_at"],
        unique=False,
        schema="files",
        postgresql_where="status = 'PROCESSING' AND mux_asset_id IS NULL",
    )
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
        schema="files",
    )
    op.create_index(
        "ix_outbox_due",
        "outbox",
        ["next_attempt_at"],
        unique=False,
        schema="files",
        postgresql_where="delivered_at IS NULL",
    )


def downgrade() -> None:
    op.drop_index(
        "ix_outbox_due",
        table_name="outbox",
        schema="files",
        postgresql_where="delivered_at IS NULL",
    )
    op.drop_table("outbox", schema="files")
    op.drop_index(
        "ix_files_processing_due",
        table_name="files",
        schema="files",
        postgresql_where="status = 'PROCESSING' AND mux_asset_id IS NULL",
    )
    op.drop_index(op.f("ix_files_files_owner_id"), table_name="files", schema="files")
    op.drop_table("files", schema="files")
