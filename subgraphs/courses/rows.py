"""What the hot reads return: plain rows, not ORM entities.

The catalog, the course page and the loaders read through `Database.rows` (Core, no
session, no identity map, no instance state): a page's few statements then cost a
fraction of what the ORM's session, result and row machinery did per statement
(docs/benchmarks-log.md, "Courses read path"). The write paths keep the ORM entities of
`models.py`; readers accept either (`AnyCourse`, `AnyEnrollment`, …).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Column

from subgraphs.courses.models import Certificate, Course, Enrollment, Lecture, Section

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CourseRow:
    id: uuid.UUID
    slug: str
    title: str
    description: str | None
    price_amount_minor: int | None
    currency: str | None
    status: str
    teacher_id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None


@dataclass(frozen=True, slots=True)
class SectionRow:
    id: uuid.UUID
    course_id: uuid.UUID
    title: str
    position: int


@dataclass(frozen=True, slots=True)
class LectureRow:
    id: uuid.UUID
    section_id: uuid.UUID
    course_id: uuid.UUID
    title: str
    position: int
    is_preview: bool
    duration_seconds: int | None
    video_status: str
    video_file_id: str | None


@dataclass(frozen=True, slots=True)
class EnrollmentRow:
    id: uuid.UUID
    user_id: uuid.UUID
    course_id: uuid.UUID
    status: str
    progress_percentage: float
    total_watch_time: int
    payment_id: str | None
    enrolled_at: datetime
    completed_at: datetime | None
    dropped_at: datetime | None
    frozen_at: datetime | None


@dataclass(frozen=True, slots=True)
class CertificateRow:
    id: uuid.UUID
    enrollment_id: uuid.UUID
    code: str
    student_name: str
    course_title: str
    issued_at: datetime
    revoked_at: datetime | None


AnyCourse = Course | CourseRow
AnySection = Section | SectionRow
AnyLecture = Lecture | LectureRow
AnyEnrollment = Enrollment | EnrollmentRow
AnyCertificate = Certificate | CertificateRow


def _columns(row_type: type[Any], table: Any) -> tuple[Column[Any], ...]:
    """The table's columns in the row type's field order: rows convert by position."""
    return tuple(table.c[f.name] for f in fields(row_type))


COURSE_COLUMNS = _columns(CourseRow, Course.__table__)
SECTION_COLUMNS = _columns(SectionRow, Section.__table__)
LECTURE_COLUMNS = _columns(LectureRow, Lecture.__table__)
ENROLLMENT_COLUMNS = _columns(EnrollmentRow, Enrollment.__table__)
CERTIFICATE_COLUMNS = _columns(CertificateRow, Certificate.__table__)


def course_rows(rows: Sequence[Sequence[Any]]) -> list[CourseRow]:
    """Courses from rows whose first columns are COURSE_COLUMNS."""
    width = len(COURSE_COLUMNS)
    return [CourseRow(*row[:width]) for row in rows]
