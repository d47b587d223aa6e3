"""Courses' root fields: thin resolvers that call the services; the schema itself."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from coursegraph.cache_control import CacheHint, CacheScope, restrict_cache
from coursegraph.errors import BadUserInput
from coursegraph.federation import build_schema, internal_field
from coursegraph.graphql_types import Money, UploadTicket, list_size
from coursegraph.live import each_resolved
from coursegraph.lookahead import selects
from subgraphs.courses.enrollments import PaymentRequired as PaymentDue
from subgraphs.courses.internal import (
    CoursePricing,
    InternalEnrollment,
    InternalProgress,
    complete_paid_enrollment,
    course_pricing,
    drop_enrollment_for_payment,
    enrollment_for_payment,
    enrollments_for_payments,
    freeze_enrollment_for_payment,
    record_video_status,
    unfreeze_enrollment_for_payment,
    viewer_progress,
)
from subgraphs.courses.models import PaymentProvider
from subgraphs.courses.objects import (
    AddLectureInput,
    Certificate,
    Course,
    CourseConnection,
    CourseEdge,
    CourseInfo,
    CreateCourseInput,
    Enrollment,
    EnrollResult,
    File,
    Lecture,
    PageInfo,
    Payment,
    PaymentRequired,
    Section,
    UpdateCourseInput,
    UploadInput,
    User,
    given,
    load_enrollment_fields,
    price_input,
    prime_counts,
    selected_counts,
    ticket_from_files,
    visible_course,
    visible_lecture,
)
from subgraphs.courses.service import (
    KEEP,
    MAX_LECTURES_PER_SECTION,
    MAX_SECTIONS_PER_COURSE,
    Keep,
)
from subgraphs.courses.videos import VideoUpload

# Catalog answers may be kept this long; events drop them sooner (docs/caching.md).
CATALOG_MAX_AGE_SECONDS = 300


# ------------------------------------------------------------------ roots
@strawberry.type
class Query:
    @strawberry.field(
        description="Published courses (a teacher's own listing adds drafts).",
        directives=[list_size(slicing=["first"], sized=["edges"])],
    )
    async def courses(
        self,
        info: CourseInfo,
        first: int | None = 20,
        after: str | None = strawberry.UNSET,
        search: str | None = strawberry.UNSET,
        teacher_id: strawberry.ID | None = strawberry.UNSET,
        free_only: bool | None = strawberry.UNSET,
    ) -> CourseConnection:
        if teacher_id:
            # A teacher's listing shows them (and ADMINs) their drafts too: it depends on
            # who asks, so it is never shared.
            restrict_cache(info, private=True)
        page = await info.context.container.courses.browse(
            info.context.viewer,
            first=20 if first is None else first,
            after=after or None,
            search=search or None,
            teacher_id=str(teacher_id) if teacher_id else None,
            free_only=bool(free_only),
            counts=selected_counts(info, "edges", "node"),
            total="totalCount" in selects(info),
        )
        for course, counts in zip(page.courses, page.counts, strict=True):
            prime_counts(info.context.loaders, course, counts)
        edges = [
            CourseEdge(cursor=cursor, node=Course.from_model(course))
            for course, cursor in zip(page.courses, page.cursors, strict=True)
        ]
        return CourseConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                end_cursor=page.cursors[-1] if page.cursors else None,
            ),
            _filter=page.filter,
        )

    @strawberry.field(description="By id or slug; drafts only for their teacher and ADMIN.")
    async def course(
        self,
        info: CourseInfo,
        id: strawberry.ID | None = strawberry.UNSET,
        slug: str | None = strawberry.UNSET,
    ) -> Course | None:
        if (not id) == (not slug):
            raise BadUserInput("Give exactly one of `id` or `slug`.")
        if id:
            return await visible_course(info, str(id))
        found = await info.context.container.courses.get_by_slug(str(slug), selected_counts(info))
        if found is None:
            return None
        # The row and its counts are at hand: the loaders need not read them again.
        course, counts = found
        info.context.loaders.courses.prime(str(course.id), course)
        prime_counts(info.context.loaders, course, counts)
        return await visible_course(info, str(course.id))

    @strawberry.field
    async def lecture(self, info: CourseInfo, id: strawberry.ID) -> Lecture | None:
        return await visible_lecture(info, str(id))

    @strawberry.federation.field(
        authenticated=True,
        description="The viewer's enrollments, newest first, at most `first` (1 to 100).",
        directives=[list_size(slicing=["first"])],
    )
    async def my_enrollments(self, info: CourseInfo, first: int = 100) -> list[Enrollment]:
        viewer = info.context.require_viewer()
        size = info.context.container.courses.check_page_size(first)
        rows = (await info.context.loaders.enrollments_by_user.load(viewer.id))[:size]
        await load_enrollment_fields(info, rows)
        return [Enrollment.from_model(e) for e in rows]

    @strawberry.field(
        description="Public: the certificate with this code, if any; a revoked one says so "
        "(valid false, revokedAt)."
    )
    async def verify_certificate(self, info: CourseInfo, code: str) -> Certificate | None:
        row = await info.context.container.enrollments.verify_certificate(code)
        return Certificate.from_model(row) if row else None

    course_pricing: CoursePricing | None = internal_field(
        course_pricing,
        services=["payments"],
        description="A course's price, status and teacher (null: no such course).",
    )
    enrollment_for_payment: InternalEnrollment | None = internal_field(
        enrollment_for_payment,
        services=["payments"],
        description="The enrollment a payment paid for, if any.",
    )
    enrollments_for_payments: list[InternalEnrollment | None] = internal_field(
        enrollments_for_payments,
        services=["payments"],
        description="The row each payment has (null: none), in order; for the reconciler.",
    )
    viewer_progress: InternalProgress | None = internal_field(
        viewer_progress,
        services=["payments"],
        description="An account's current standing in a course (for refund proration).",
    )


@strawberry.type
class Mutation:
    @strawberry.federation.mutation(
        requires_scopes=[["teach"]], description="TEACHER or ADMIN; the course starts as a DRAFT."
    )
    async def create_course(self, info: CourseInfo, input: CreateCourseInput) -> Course:
        course = await info.context.container.courses.create_course(
            info.context.viewer,
            input.title,
            input.description or None,
            price_input(input.price or None),
            str(input.teacher_id) if input.teacher_id else None,
        )
        return Course.from_model(course)

    @strawberry.federation.mutation(
        requires_scopes=[["teach"]],
        description="The course's teacher or ADMIN; omitted fields stay.",
    )
    async def update_course(
        self, info: CourseInfo, id: strawberry.ID, input: UpdateCourseInput
    ) -> Course:
        title = given(input.title)
        price = given(input.price)
        course = await info.context.container.courses.update_course(
            info.context.viewer,
            str(id),
            # A null title means "no change": a course always has one.
            title=KEEP if title is None else title,
            description=given(input.description),
            price=price if isinstance(price, Keep) else price_input(price),
        )
        return Course.from_model(course)

    @strawberry.federation.mutation(
        requires_scopes=[["teach"]], description="Needs at least one lecture."
    )
    async def publish_course(self, info: CourseInfo, id: strawberry.ID) -> Course:
        course = await info.context.container.courses.publish_course(info.context.viewer, str(id))
        return Course.from_model(course)

    @strawberry.federation.mutation(requires_scopes=[["teach"]])
    async def archive_course(self, info: CourseInfo, id: strawberry.ID) -> Course:
        course = await info.context.container.courses.archive_course(info.context.viewer, str(id))
        return Course.from_model(course)

    @strawberry.federation.mutation(requires_scopes=[["teach"]])
    async def add_section(self, info: CourseInfo, course_id: strawberry.ID, title: str) -> Section:
        section = await info.context.container.courses.add_section(
            info.context.viewer, str(course_id), title
        )
        return Section.from_model(section)

    @strawberry.federation.mutation(requires_scopes=[["teach"]])
    async def add_lecture(
        self, info: CourseInfo, section_id: strawberry.ID, input: AddLectureInput
    ) -> Lecture:
        lecture = await info.context.container.courses.add_lecture(
            info.context.viewer, str(section_id), input.title, bool(input.is_preview)
        )
        return Lecture.from_model(lecture)

    @strawberry.federation.mutation(
        requires_scopes=[["teach"]],
        description="New order of all the course's sections.",
        directives=[list_size(assumed=MAX_SECTIONS_PER_COURSE)],
    )
    async def reorder_sections(
        self, info: CourseInfo, course_id: strawberry.ID, section_ids: list[strawberry.ID]
    ) -> list[Section]:
        sections = await info.context.container.courses.reorder_sections(
            info.context.viewer, str(course_id), [str(i) for i in section_ids]
        )
        return [Section.from_model(s) for s in sections]

    @strawberry.federation.mutation(
        requires_scopes=[["teach"]],
        description="New order of all the section's lectures.",
        directives=[list_size(assumed=MAX_LECTURES_PER_SECTION)],
    )
    async def reorder_lectures(
        self, info: CourseInfo, section_id: strawberry.ID, lecture_ids: list[strawberry.ID]
    ) -> list[Lecture]:
        lectures = await info.context.container.courses.reorder_lectures(
            info.context.viewer, str(section_id), [str(i) for i in lecture_ids]
        )
        return [Lecture.from_model(lecture) for lecture in lectures]

    @strawberry.federation.mutation(
        authenticated=True,
        description="Free course: ACTIVE enrollment at once; paid: PaymentRequired (with a "
        "payment when a provider is given). Already ACTIVE/COMPLETED: CONFLICT.",
    )
    async def enroll(
        self,
        info: CourseInfo,
        course_id: strawberry.ID,
        provider: PaymentProvider | None = strawberry.UNSET,
    ) -> EnrollResult:
        result = await info.context.container.enrollments.enroll(
            info.context.require_viewer(),
            str(course_id),
            provider.value if provider else None,
            forward_headers=info.context.forward_headers(),
        )
        if isinstance(result, PaymentDue):
            return PaymentRequired(
                course=Course.from_model(result.course),
                price=Money.from_money(result.price),
                payment=Payment(id=strawberry.ID(result.payment_id)) if result.payment_id else None,
            )
        return Enrollment.from_model(result)

    @strawberry.federation.mutation(
        authenticated=True, description="Keeps the highest progress seen; 100 marks COMPLETED."
    )
    async def update_progress(
        self,
        info: CourseInfo,
        course_id: strawberry.ID,
        progress_percentage: float,
        total_watch_time: int,
    ) -> Enrollment:
        enrollment = await info.context.container.enrollments.update_progress(
            info.context.require_viewer(), str(course_id), progress_percentage, total_watch_time
        )
        return Enrollment.from_model(enrollment)

    @strawberry.federation.mutation(
        authenticated=True, description="COMPLETED enrollments only; idempotent."
    )
    async def issue_certificate(
        self, info: CourseInfo, enrollment_id: strawberry.ID
    ) -> Certificate:
        certificate = await info.context.container.enrollments.issue_certificate(
            info.context.require_viewer(), str(enrollment_id)
        )
        return Certificate.from_model(certificate)

    @strawberry.federation.mutation(
        requires_scopes=[["teach"]],
        description="The course's teacher or ADMIN: where to upload the lecture's video "
        "(mp4, webm or quicktime). The lecture is UPLOADING; a previous video is deleted.",
    )
    async def initiate_lecture_upload(
        self, info: CourseInfo, lecture_id: strawberry.ID, input: UploadInput
    ) -> UploadTicket:
        ticket = await info.context.container.videos.initiate_upload(
            info.context.viewer,
            str(lecture_id),
            VideoUpload(input.file_name, input.file_size, input.content_type),
        )
        return ticket_from_files(ticket)

    @strawberry.federation.mutation(
        requires_scopes=[["teach"]],
        description="After the upload: PROCESSING, or FAILED when the upload does not match "
        "what was announced; READY follows once the video is processed. Idempotent.",
    )
    async def confirm_lecture_upload(
        self, info: CourseInfo, lecture_id: strawberry.ID, file_id: strawberry.ID
    ) -> Lecture:
        lecture = await info.context.container.videos.confirm_upload(
            info.context.viewer, str(lecture_id), str(file_id)
        )
        return Lecture.from_model(lecture)

    complete_paid_enrollment: InternalEnrollment = internal_field(
        complete_paid_enrollment,
        services=["payments"],
        description="The enrollment a succeeded payment pays for; idempotent on paymentId.",
    )
    freeze_enrollment_for_payment: InternalEnrollment = internal_field(
        freeze_enrollment_for_payment,
        services=["payments"],
        description="Freezes the payment's seat before a refund (not one with a certificate "
        "unless allowCertificate); the progress returned is read under the lock.",
    )
    unfreeze_enrollment_for_payment: InternalEnrollment | None = internal_field(
        unfreeze_enrollment_for_payment,
        services=["payments"],
        description="Lifts the freeze after a refund that did not happen; idempotent.",
    )
    drop_enrollment_for_payment: InternalEnrollment | None = internal_field(
        drop_enrollment_for_payment,
        services=["payments"],
        description="Drops the seat of a refunded payment and revokes its certificate; "
        "with userId and courseId a late completion finds it dropped. Idempotent.",
    )
    record_video_status: bool = internal_field(
        record_video_status,
        services=["files"],
        description="Video status of the lecture whose video is the file (false: none is).",
    )


# What the router may cache (coursegraph/cache_control.py; docs/caching.md): the public
# catalog, dropped by the router when a course or enrollment event names it. Drafts make
# their answer PRIVATE at run time (objects.visible_course). Enrollments, certificates
# and the internal money fields have no hint: never cached.
CATALOG = CacheHint(max_age=CATALOG_MAX_AGE_SECONDS, scope=CacheScope.PUBLIC)
INHERIT = CacheHint(inherit_max_age=True)
CACHE_HINTS: dict[str, CacheHint] = {
    "Query.courses": CATALOG,
    "Query.course": CATALOG,
    "Query.lecture": CATALOG,
    "CourseConnection": INHERIT,
    "CourseEdge": INHERIT,
    "PageInfo": INHERIT,
    "Money": INHERIT,
    "Course": CATALOG,
    "Course.teacher": INHERIT,
    # Null for anonymous callers; for a signed-in one the resolver makes the answer
    # `no-store` (progress changes without an event).
    "Course.viewerEnrollment": INHERIT,
    "Section": CATALOG,
    "Lecture": CATALOG,
    "Lecture.video": INHERIT,
    # Changes when the viewer enrolls, which names no lecture: never kept.
    "File.viewerCanWatch": CacheHint(max_age=0, scope=CacheScope.PRIVATE),
    "Lecture.course": INHERIT,
}


@strawberry.type
class Subscription:
    @strawberry.federation.field(
        is_subscription=True,
        authenticated=True,
        description="The lecture now, then again after each change of its video status "
        "(UPLOADING, PROCESSING, READY, FAILED). The course's teacher or an ADMIN.",
    )
    async def lecture_video_updated(
        self, info: CourseInfo, lecture_id: strawberry.ID
    ) -> AsyncGenerator[Lecture, None]:
        states = await info.context.container.videos.watch(info.context.viewer, str(lecture_id))
        return each_resolved(info.context, states, Lecture.from_model)


schema = build_schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    types=[User, Payment, Course, Lecture, Enrollment, File],
    cache_hints=CACHE_HINTS,
)
