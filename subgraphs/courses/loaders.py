"""Per-request DataLoaders: one query per kind of read, however many parents ask."""

from __future__ import annotations

from dataclasses import dataclass

from strawberry.dataloader import DataLoader

from subgraphs.courses.enrollments import EnrollmentService
from subgraphs.courses.models import Enrollment, Lecture
from subgraphs.courses.rows import CertificateRow, CourseRow, EnrollmentRow, LectureRow, SectionRow
from subgraphs.courses.service import CourseService, Curriculum, TaughtKey


@dataclass
class CoursesLoaders:
    courses: DataLoader[str, CourseRow | None]
    courses_by_teacher: DataLoader[TaughtKey, list[CourseRow]]
    sections_by_course: DataLoader[str, list[SectionRow]]
    # A course's sections with their lectures, when a request selects both.
    curricula: DataLoader[str, Curriculum]
    lectures_by_section: DataLoader[str, list[LectureRow]]
    lectures: DataLoader[str, Lecture | None]
    lectures_by_video: DataLoader[str, Lecture | None]
    lecture_counts: DataLoader[str, int]
    enrollments: DataLoader[str, Enrollment | None]
    enrollments_by_payment: DataLoader[str, Enrollment | None]
    enrollments_by_user: DataLoader[str, list[EnrollmentRow]]
    # Keyed by (user id, course id): the viewer's seat in each listed course.
    current_enrollments: DataLoader[tuple[str, str], EnrollmentRow | None]
    enrollment_counts: DataLoader[str, int]
    certificates_by_enrollment: DataLoader[str, CertificateRow | None]


def make_loaders(courses: CourseService, enrollments: EnrollmentService) -> CoursesLoaders:
    return CoursesLoaders(
        courses=DataLoader(load_fn=courses.get_many),
        courses_by_teacher=DataLoader(load_fn=courses.taught_by),
        sections_by_course=DataLoader(load_fn=courses.sections_of),
        curricula=DataLoader(load_fn=courses.curricula),
        lectures_by_section=DataLoader(load_fn=courses.lectures_of),
        lectures=DataLoader(load_fn=courses.lectures),
        lectures_by_video=DataLoader(load_fn=courses.lectures_by_videos),
        lecture_counts=DataLoader(load_fn=courses.lecture_counts),
        enrollments=DataLoader(load_fn=enrollments.get_many),
        enrollments_by_payment=DataLoader(load_fn=enrollments.by_payments),
        enrollments_by_user=DataLoader(load_fn=enrollments.of_users),
        current_enrollments=DataLoader(load_fn=enrollments.current_of),
        enrollment_counts=DataLoader(load_fn=enrollments.counts),
        certificates_by_enrollment=DataLoader(load_fn=enrollments.certificates_of),
    )
