"""Internal fields other services call (HMAC-signed, `@inaccessible`): payments and files."""

from __future__ import annotations

from datetime import datetime

import strawberry

from subgraphs.courses import models
from subgraphs.courses.models import CourseStatus, EnrollmentStatus, VideoStatus
from subgraphs.courses.objects import CourseInfo


# ------------------------------------------------------------------ internal (services)
@strawberry.federation.type(inaccessible=True)
class CoursePricing:
    course_id: strawberry.ID
    title: str
    status: CourseStatus
    teacher_id: strawberry.ID
    price_amount_minor: int | None = strawberry.field(description="Null: free.")
    currency: str | None


@strawberry.federation.type(inaccessible=True)
class InternalEnrollment:
    id: strawberry.ID
    user_id: strawberry.ID
    course_id: strawberry.ID
    status: EnrollmentStatus
    progress_percentage: float
    frozen: bool = strawberry.field(description="A refund of its payment is under way.")
    frozen_at: datetime | None
    payment_id: strawberry.ID | None = strawberry.field(
        description="The payment that holds this seat; null for a free one."
    )

    @strawberry.field
    async def certificate_issued(self, info: CourseInfo) -> bool:
        row = await info.context.loaders.certificates_by_enrollment.load(str(self.id))
        return row is not None

    @strawberry.field(description="A certificate was issued and is not revoked.")
    async def certificate_valid(self, info: CourseInfo) -> bool:
        row = await info.context.loaders.certificates_by_enrollment.load(str(self.id))
        return row is not None and row.revoked_at is None

    @classmethod
    def from_model(cls, enrollment: models.Enrollment) -> InternalEnrollment:
        return cls(
            id=strawberry.ID(str(enrollment.id)),
            user_id=strawberry.ID(str(enrollment.user_id)),
            course_id=strawberry.ID(str(enrollment.course_id)),
            status=EnrollmentStatus(enrollment.status),
            progress_percentage=enrollment.progress_percentage,
            frozen=enrollment.frozen_at is not None,
            frozen_at=enrollment.frozen_at,
            payment_id=strawberry.ID(enrollment.payment_id) if enrollment.payment_id else None,
        )


@strawberry.federation.type(inaccessible=True)
class InternalProgress:
    enrolled: bool
    status: EnrollmentStatus | None
    progress_percentage: float
    certificate_issued: bool


async def course_pricing(info: CourseInfo, course_id: strawberry.ID) -> CoursePricing | None:
    course = await info.context.loaders.courses.load(str(course_id))
    if course is None:
        return None
    return CoursePricing(
        course_id=strawberry.ID(str(course.id)),
        title=course.title,
        status=CourseStatus(course.status),
        teacher_id=strawberry.ID(str(course.teacher_id)),
        price_amount_minor=course.price_amount_minor,
        currency=course.currency,
    )


async def enrollment_for_payment(
    info: CourseInfo, payment_id: strawberry.ID
) -> InternalEnrollment | None:
    row = await info.context.loaders.enrollments_by_payment.load(str(payment_id))
    return InternalEnrollment.from_model(row) if row else None


async def enrollments_for_payments(
    info: CourseInfo, payment_ids: list[strawberry.ID]
) -> list[InternalEnrollment | None]:
    rows = await info.context.loaders.enrollments_by_payment.load_many(
        [str(p) for p in payment_ids]
    )
    return [InternalEnrollment.from_model(row) if row else None for row in rows]


async def viewer_progress(
    info: CourseInfo, user_id: strawberry.ID, course_id: strawberry.ID
) -> InternalProgress | None:
    progress = await info.context.container.enrollments.progress(str(user_id), str(course_id))
    row = progress.enrollment
    return InternalProgress(
        enrolled=row is not None,
        status=EnrollmentStatus(row.status) if row else None,
        progress_percentage=row.progress_percentage if row else 0.0,
        certificate_issued=progress.certificate_issued,
    )


async def complete_paid_enrollment(
    info: CourseInfo, user_id: strawberry.ID, course_id: strawberry.ID, payment_id: strawberry.ID
) -> InternalEnrollment:
    row = await info.context.container.enrollments.complete_paid(
        str(user_id), str(course_id), str(payment_id)
    )
    return InternalEnrollment.from_model(row)


async def freeze_enrollment_for_payment(
    info: CourseInfo,
    user_id: strawberry.ID,
    course_id: strawberry.ID,
    payment_id: strawberry.ID,
    allow_certificate: bool = False,
) -> InternalEnrollment:
    seat = await info.context.container.enrollments.freeze_for_payment(
        str(user_id), str(course_id), str(payment_id), allow_certificate=allow_certificate
    )
    return InternalEnrollment.from_model(seat.enrollment)


async def unfreeze_enrollment_for_payment(
    info: CourseInfo, payment_id: strawberry.ID
) -> InternalEnrollment | None:
    row = await info.context.container.enrollments.unfreeze_for_payment(str(payment_id))
    return InternalEnrollment.from_model(row) if row else None


async def drop_enrollment_for_payment(
    info: CourseInfo,
    payment_id: strawberry.ID,
    user_id: strawberry.ID | None = None,
    course_id: strawberry.ID | None = None,
) -> InternalEnrollment | None:
    row = await info.context.container.enrollments.drop_for_payment(
        str(payment_id),
        str(user_id) if user_id else None,
        str(course_id) if course_id else None,
    )
    return InternalEnrollment.from_model(row) if row else None


async def record_video_status(
    info: CourseInfo, file_id: strawberry.ID, status: VideoStatus, duration_seconds: int | None
) -> bool:
    return await info.context.container.videos.record_video_status(
        str(file_id), status.value, duration_seconds
    )
