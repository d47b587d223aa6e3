from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from coursegraph.db import one_of, schema_metadata
from coursegraph.outbox import outbox_table


class CourseStatus(StrEnum):
    DRAFT = "DRAFT"
    PUBLISHED = "PUBLISHED"
    ARCHIVED = "ARCHIVED"


class VideoStatus(StrEnum):
    NONE = "NONE"
    UPLOADING = "UPLOADING"
    PROCESSING = "PROCESSING"
    READY = "READY"
    FAILED = "FAILED"


class EnrollmentStatus(StrEnum):
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    DROPPED = "DROPPED"


class PaymentProvider(StrEnum):
    """The providers `enroll(provider:)` accepts: payments' list, as its SDL enum names
    them (courses does not import payments)."""

    STRIPE = "STRIPE"
    RAZORPAY = "RAZORPAY"
    SANDBOX = "SANDBOX"


# The statuses that hold a seat: at most one such enrollment per user and course.
CURRENT_STATUSES = (EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED)
CURRENT_WHERE = text("status IN ('ACTIVE', 'COMPLETED')")


class Base(DeclarativeBase):
    metadata = schema_metadata("courses")


class Course(Base):
    __tablename__ = "courses"
    __table_args__ = (
        CheckConstraint(one_of("status", CourseStatus), name="status"),
        # A price is both parts or neither (free), never negative.
        CheckConstraint(
            "(price_amount_minor IS NULL) = (currency IS NULL)", name="price_has_currency"
        ),
        CheckConstraint("price_amount_minor >= 0", name="price_not_negative"),
        # A search's matches per time block (courses_0005's `search_matches`).
        Index("ix_courses_search", "search", "search_blocks", postgresql_using="gin"),
        # The catalog's keyset order, per status and per teacher.
        Index("ix_courses_status_created", "status", "created_at", "id"),
        Index("ix_courses_teacher_created", "teacher_id", "created_at", "id"),
    )

    # Read `updated_at` back on UPDATE, so a changed course can be returned as is.
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    price_amount_minor: Mapped[int | None] = mapped_column(Integer)
    currency: Mapped[str | None] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), server_default=CourseStatus.DRAFT)
    # A user id owned by the users subgraph; no foreign key across subgraphs.
    teacher_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Kept by PostgreSQL itself, so no write path can forget it; titles weigh more.
    search: Mapped[str] = mapped_column(
        TSVECTOR,
        Computed(
            "setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
            "setweight(to_tsvector('english', coalesce(description, '')), 'B')",
            persisted=True,
        ),
        deferred=True,
    )
    # The aligned blocks of 4**k hours (k = 0..9) created_at falls in: a search reads its
    # matches block by block, newest first (migration courses_0005).
    search_blocks: Mapped[list[int]] = mapped_column(
        ARRAY(BigInteger),
        Computed("courses.search_blocks(created_at)", persisted=True),
        deferred=True,
    )


class CourseCount(Base):
    """How many courses have each status, free or not: `totalCount` of the whole catalog
    reads these rows instead of counting 100,000. Kept by the `count_courses` trigger
    (migration courses_0004) in the same statement as every course write."""

    __tablename__ = "course_counts"
    __table_args__ = (CheckConstraint("courses >= 0", name="not_negative"),)

    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    is_free: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    courses: Mapped[int] = mapped_column(BigInteger)


class Section(Base):
    __tablename__ = "sections"
    __table_args__ = (
        # Deferred, so a reorder can swap positions inside one transaction.
        UniqueConstraint(
            "course_id", "position", name="uq_sections_course_position", deferrable=True,
            initially="DEFERRED",
        ),
    )  # fmt: skip

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    course_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("courses.courses.id", ondelete="CASCADE")
    )
    title: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Lecture(Base):
    __tablename__ = "lectures"
    __table_args__ = (
        UniqueConstraint(
            "section_id", "position", name="uq_lectures_section_position", deferrable=True,
            initially="DEFERRED",
        ),
        CheckConstraint(one_of("video_status", VideoStatus), name="video_status"),
        CheckConstraint("duration_seconds >= 0", name="duration_not_negative"),
        Index("ix_lectures_course_id", "course_id"),
    )  # fmt: skip

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    section_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("courses.sections.id", ondelete="CASCADE")
    )
    # Denormalised from the section: lecture counts and `Lecture.course` need no join.
    course_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("courses.courses.id", ondelete="CASCADE")
    )
    title: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer)
    is_preview: Mapped[bool] = mapped_column(Boolean, server_default="false")
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    video_status: Mapped[str] = mapped_column(String(16), server_default=VideoStatus.NONE)
    # A file id owned by the files subgraph; one file is the video of one lecture.
    video_file_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Enrollment(Base):
    __tablename__ = "enrollments"
    __table_args__ = (
        CheckConstraint(one_of("status", EnrollmentStatus), name="status"),
        CheckConstraint(
            "progress_percentage >= 0 AND progress_percentage <= 100", name="progress_range"
        ),
        CheckConstraint("total_watch_time >= 0", name="watch_time_not_negative"),
        # One seat per user and course; DROPPED rows stay as history.
        Index(
            "uq_enrollments_current",
            "user_id",
            "course_id",
            unique=True,
            postgresql_where=CURRENT_WHERE,
        ),
        # enrollmentCount per course reads only this index.
        Index("ix_enrollments_course_current", "course_id", postgresql_where=CURRENT_WHERE),
        Index("ix_enrollments_user_enrolled", "user_id", "enrolled_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    course_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("courses.courses.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(16), server_default=EnrollmentStatus.ACTIVE)
    progress_percentage: Mapped[float] = mapped_column(Float, server_default="0")
    total_watch_time: Mapped[int] = mapped_column(Integer, server_default="0")
    # The payment (owned by payments) that paid for this seat; unique, so completing
    # the same payment twice finds this row instead of making a second one.
    payment_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    enrolled_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dropped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set while payments refunds the seat's payment: progress and certificates wait, so
    # the refund is computed from the enrollment exactly as it is here.
    frozen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Certificate(Base):
    __tablename__ = "certificates"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # One certificate per enrollment: issuing twice finds the first.
    enrollment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("courses.enrollments.id", ondelete="CASCADE"), unique=True
    )
    code: Mapped[str] = mapped_column(String(40), unique=True)
    # Copied at issue time: a certificate keeps saying what it said when issued.
    student_name: Mapped[str] = mapped_column(String(100))
    course_title: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Set when the paid seat behind it was refunded (an ADMIN may refund after issue).
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


outbox = outbox_table(Base.metadata)
