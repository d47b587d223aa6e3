"""initial

Revision ID: courses_0001
Revises:
Create Date: 2026-11-26 04:38:48.898401
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "courses_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "courses",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("slug", sa.String(length=120), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("price_amount_minor", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="DRAFT", nullable=False),
        sa.Column("teacher_id", sa.Uuid(), nullable=False),
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
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "search",
            postgresql.TSVECTOR(),
            sa.Computed(
                "setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
                "setweight(to_tsvector('english', coalesce(description, '')), 'B')",
                persisted=True,
            ),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('DRAFT', 'PUBLISHED', 'ARCHIVED')", name=op.f("ck_courses_status")
        ),
        sa.CheckConstraint(
            "(price_amount_minor IS NULL) = (currency IS NULL)",
            name=op.f("ck_courses_price_has_currency"),
        ),
        sa.CheckConstraint("price_amount_minor >= 0", name=op.f("ck_courses_price_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_courses")),
        sa.UniqueConstraint("slug", name=op.f("uq_courses_slug")),
        schema="courses",
    )
    op.create_index(
        "ix_courses_search",
        "courses",
        ["search"],
        unique=False,
        schema="courses",
        postgresql_using="gin",
    )
    op.create_index(
        "ix_courses_status_created",
        "courses",
        ["status", "created_at", "id"],
        unique=False,
        schema="courses",
    )
    op.create_index(
        "ix_courses_teacher_created",
        "courses",
        ["teacher_id", "created_at", "id"],
        unique=False,
        schema="courses",
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
        schema="courses",
    )
    op.create_index(
        "ix_outbox_due",
        "outbox",
        ["next_attempt_at"],
        unique=False,
        schema="courses",
        postgresql_where="delivered_at IS NULL",
    )
    op.create_table(
        "enrollments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="ACTIVE", nullable=False),
        sa.Column("progress_percentage", sa.Float(), server_default="0", nullable=False),
        sa.Column("total_watch_time", sa.Integer(), server_default="0", nullable=False),
        sa.Column("payment_id", sa.String(length=100), nullable=True),
        sa.Column(
            "enrolled_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dropped_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('ACTIVE', 'COMPLETED', 'DROPPED')", name=op.f("ck_enrollments_status")
        ),
        sa.CheckConstraint(
            "progress_percentage >= 0 AND progress_percentage <= 100",
            name=op.f("ck_enrollments_progress_range"),
        ),
        sa.CheckConstraint(
            "total_watch_time >= 0", name=op.f("ck_enrollments_watch_time_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.courses.id"],
            name=op.f("fk_enrollments_course_id_courses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrollments")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_enrollments_payment_id")),
        schema="courses",
    )
    op.create_index(
        "ix_enrollments_course_current",
        "enrollments",
        ["course_id"],
        unique=False,
        schema="courses",
        postgresql_where=sa.text("status IN ('ACTIVE', 'COMPLETED')"),
    )
    op.create_index(
        "ix_enrollments_user_enrolled",
        "enrollments",
        ["user_id", "enrolled_at"],
        unique=False,
        schema="courses",
    )
    op.create_index(
        "uq_enrollments_current",
        "enrollments",
        ["user_id", "course_id"],
        unique=True,
        schema="courses",
        postgresql_where=sa.text("status IN ('ACTIVE', 'COMPLETED')"),
    )
    op.create_table(
        "sections",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.courses.id"],
            name=op.f("fk_sections_course_id_courses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sections")),
        sa.UniqueConstraint(
            "course_id",
            "position",
            deferrable=True,
            initially="DEFERRED",
            name="uq_sections_course_position",
        ),
        schema="courses",
    )
    op.create_table(
        "certificates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("enrollment_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("student_name", sa.String(length=100), nullable=False),
        sa.Column("course_title", sa.String(length=200), nullable=False),
        sa.Column(
            "issued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["courses.enrollments.id"],
            name=op.f("fk_certificates_enrollment_id_enrollments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificates")),
        sa.UniqueConstraint("code", name=op.f("uq_certificates_code")),
        sa.UniqueConstraint("enrollment_id", name=op.f("uq_certificates_enrollment_id")),
        schema="courses",
    )
    op.create_table(
        "lectures",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("section_id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("is_preview", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("video_status", sa.String(length=16), server_default="NONE", nullable=False),
        sa.Column("video_file_id", sa.String(length=100), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "video_status IN ('NONE', 'UPLOADING', 'PROCESSING', 'READY', 'FAILED')",
            name=op.f("ck_lectures_video_status"),
        ),
        sa.CheckConstraint("duration_seconds >= 0", name=op.f("ck_lectures_duration_not_negative")),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.courses.id"],
            name=op.f("fk_lectures_course_id_courses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["section_id"],
            ["courses.sections.id"],
            name=op.f("fk_lectures_section_id_sections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lectures")),
        sa.UniqueConstraint(
            "section_id",
            "position",
            deferrable=True,
            initially="DEFERRED",
            name="uq_lectures_section_position",
        ),
        sa.UniqueConstraint("video_file_id", name=op.f("uq_lectures_video_file_id")),
        schema="courses",
    )
    op.create_index(
        "ix_lectures_course_id", "lectures", ["course_id"], unique=False, schema="courses"
    )


def downgrade() -> None:
    op.drop_index("ix_lectures_course_id", table_name="lectures", schema="courses")
    op.drop_table("lectures", schema="courses")
    op.drop_table("certificates", schema="courses")
    op.drop_table("sections", schema="courses")
    op.drop_index(
        "uq_enrollments_current",
        table_name="enrollments",
        schema="courses",
        postgresql_where=sa.text("status IN ('ACTIVE', 'COMPLETED')"),
    )
    op.drop_index("ix_enrollments_user_enrolled", table_name="enrollments", schema="courses")
    op.drop_index(
        "ix_enrollments_course_current",
        table_name="enrollments",
        schema="courses",
        postgresql_where=sa.text("status IN ('ACTIVE', 'COMPLETED')"),
    )
    op.drop_table("enrollments", schema="courses")
    op.drop_index(
        "ix_outbox_due",
        table_name="outbox",
        schema="courses",
        postgresql_where="delivered_at IS NULL",
    )
    op.drop_table("outbox", schema="courses")
    op.drop_index("ix_courses_teacher_created", table_name="courses", schema="courses")
    op.drop_index("ix_courses_status_created", table_name="courses", schema="courses")
    op.drop_index(
        "ix_courses_search", table_name="courses", schema="courses", postgresql_using="gin"
    )
    op.drop_table("courses", schema="courses")
