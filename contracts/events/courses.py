"""Events of the courses subgraph: the catalog, enrollments and certificates."""

from __future__ import annotations

from typing import ClassVar, Literal

from contracts.events import EventPayload

EnrollmentStatus = Literal["ACTIVE", "COMPLETED", "DROPPED"]


class _EnrollmentEvent(EventPayload):
    enrollmentId: str
    userId: str
    courseId: str
    courseTitle: str
    paymentId: str | None
    status: EnrollmentStatus

    def entities(self) -> tuple[str, ...]:
        # The course too: its enrollmentCount and the viewer's enrollment on its page.
        return (
            f"Enrollment:{self.enrollmentId}",
            f"Course:{self.courseId}",
            f"User:{self.userId}",
        )


class EnrollmentCreated(_EnrollmentEvent):
    """A seat was taken: a free enrollment, or a paid one whose payment succeeded."""

    TOPIC: ClassVar[str] = "enrollment.created"
    VERSION: ClassVar[int] = 1


class EnrollmentCompleted(_EnrollmentEvent):
    """Progress reached 100% (announced once per enrollment)."""

    TOPIC: ClassVar[str] = "enrollment.completed"
    VERSION: ClassVar[int] = 1


class EnrollmentDropped(_EnrollmentEvent):
    """A seat was given up: its payment was refunded."""

    TOPIC: ClassVar[str] = "enrollment.dropped"
    VERSION: ClassVar[int] = 1


class CertificateIssued(EventPayload):
    """A completed enrollment got its certificate; `verificationCode` is what
    `verifyCertificate(code:)` accepts."""

    TOPIC: ClassVar[str] = "certificate.issued"
    VERSION: ClassVar[int] = 1
    certificateId: str
    enrollmentId: str
    userId: str
    courseId: str
    courseTitle: str
    verificationCode: str

    def entities(self) -> tuple[str, ...]:
        return (f"Enrollment:{self.enrollmentId}", f"Certificate:{self.certificateId}")


CourseChange = Literal["created", "details", "published", "archived", "curriculum", "video"]


class CourseUpdated(EventPayload):
    """What a catalog page shows of a course changed: `details` (title, description,
    price), its status, or its curriculum (sections, lectures, a lecture's video)."""

    TOPIC: ClassVar[str] = "course.updated"
    VERSION: ClassVar[int] = 1
    courseId: str
    teacherId: str
    change: CourseChange
    # The lecture a `video` change is about.
    lectureId: str | None = None

    def entities(self) -> tuple[str, ...]:
        lecture = (f"Lecture:{self.lectureId}",) if self.lectureId else ()
        return (f"Course:{self.courseId}", *lecture)


EVENTS: tuple[type[EventPayload], ...] = (
    EnrollmentCreated,
    EnrollmentCompleted,
    EnrollmentDropped,
    CertificateIssued,
    CourseUpdated,
)
