"""Events of the courses subgraph: enrollments and certificates, and its internal ones."""

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


class LectureVideoChanged(EventPayload):
    """Internal: a lecture's video status changed (an upload started or was confirmed, or
    files reported the outcome); what `lectureVideoUpdated` subscriptions wait on."""

    TOPIC: ClassVar[str] = "lecture.video_changed"
    VERSION: ClassVar[int] = 1
    INTERNAL: ClassVar[bool] = True
    lectureId: str
    courseId: str
    videoStatus: Literal["NONE", "UPLOADING", "PROCESSING", "READY", "FAILED"]


EVENTS: tuple[type[EventPayload], ...] = (
    EnrollmentCreated,
    EnrollmentCompleted,
    EnrollmentDropped,
    CertificateIssued,
    LectureVideoChanged,
)
