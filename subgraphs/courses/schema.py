"""Courses' GraphQL types and resolvers: thin, they call the services and the loaders."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, TypeVar

import strawberry
from strawberry.types import Info

from coursegraph.context import RequestContext
from coursegraph.errors import BadUserInput, NotFound
from coursegraph.federation import build_schema, internal_field
from coursegraph.graphql_types import Money, MoneyInput
from subgraphs.courses import clients, models
from subgraphs.courses.bootstrap import CoursesContainer
from subgraphs.courses.enrollments import EnrollmentService
from subgraphs.courses.enrollments import PaymentRequired as PaymentDue
from subgraphs.courses.loaders import CoursesLoaders
from subgraphs.courses.policy import can_view, can_watch, is_owner_or_admin
from subgraphs.courses.service import KEEP, CatalogFilter, Keep, PriceInput, course_price
from subgraphs.courses.videos import VideoUpload

Context = RequestContext[CoursesContainer, CoursesLoaders]
CourseInfo = Info[Context, None]
_T = TypeVar("_T")


# ------------------------------------------------------------------ enums and values
@strawberry.enum
class CourseStatus(Enum):
    DRAFT = "DRAFT"
    PUBLISHED = "PUBLISHED"
    ARCHIVED = "ARCHIVED"


@strawberry.enum
class VideoStatus(Enum):
    NONE = "NONE"
    UPLOADING = "UPLOADING"
    PROCESSING = "PROCESSING"
    READY = "READY"
    FAILED = "FAILED"


@strawberry.enum
class EnrollmentStatus(Enum):
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    DROPPED = "DROPPED"


@strawberry.enum
class PaymentProvider(Enum):
    STRIPE = "STRIPE"
    RAZORPAY = "RAZORPAY"
    SANDBOX = "SANDBOX"


@strawberry.federation.type(shareable=True)
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


# Files issues upload tickets; courses hands them to clients unchanged.
@strawberry.federation.type(shareable=True)
class UploadHeader:
    name: str
    value: str


@strawberry.federation.type(shareable=True)
class UploadTicket:
    file_id: strawberry.ID
    upload_url: str
    method: str
    headers: list[UploadHeader]
    expires_at: datetime

    @classmethod
    def from_ticket(cls, ticket: clients.UploadTicket) -> UploadTicket:
        return cls(
            file_id=strawberry.ID(ticket.file_id),
            upload_url=ticket.upload_url,
            method=ticket.method,
            headers=[UploadHeader(name=name, value=value) for name, value in ticket.headers],
            expires_at=ticket.expires_at,
        )


# ------------------------------------------------------------------ other subgraphs' entities
@strawberry.federation.type(keys=["id"])
class File:
    """Owned by files; courses contributes who may play a lecture video."""

    id: strawberry.ID

    @strawberry.field(
        description="May the viewer play this video? True for a preview lecture, the "
        "course's teacher, an ADMIN and students with an ACTIVE or COMPLETED enrollment."
    )
    async def viewer_can_watch(self, info: CourseInfo) -> bool:
        loaders = info.context.loaders
        viewer = info.context.viewer
        lecture = await loaders.lectures_by_video.load(str(self.id))
        if lecture is None:
            return False
        course = await loaders.courses.load(str(lecture.course_id))
        seat = (
            await loaders.current_enrollments.load((viewer.id, str(lecture.course_id)))
            if viewer is not None
            else None
        )
        return can_watch(lecture, course, seat, viewer)

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> File:
        return cls(id=id)


@strawberry.federation.type(keys=["id"])
class User:
    id: strawberry.ID

    @strawberry.field(description="FORBIDDEN unless the viewer is this user or an ADMIN.")
    async def enrollments(self, info: CourseInfo) -> list[Enrollment]:
        EnrollmentService.require_self_or_admin(info.context.viewer, str(self.id))
        rows = await info.context.loaders.enrollments_by_user.load(str(self.id))
        return [Enrollment.from_model(e) for e in rows]

    @strawberry.field(description="Published courses, plus drafts for their teacher.")
    async def taught_courses(self, info: CourseInfo) -> list[Course]:
        viewer = info.context.viewer
        rows = await info.context.loaders.courses_by_teacher.load(str(self.id))
        return [
            Course.from_model(c)
            for c in rows
            if c.status == "PUBLISHED" or is_owner_or_admin(c, viewer)
        ]

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> User:
        return cls(id=id)


@strawberry.federation.type(keys=["id"])
class Payment:
    id: strawberry.ID

    @strawberry.field(description="The enrollment this payment paid for, once it succeeded.")
    async def enrollment(self, info: CourseInfo) -> Enrollment | None:
        loaders = info.context.loaders
        row = await loaders.enrollments_by_payment.load(str(self.id))
        if row is None:
            return None
        course = await loaders.courses.load(str(row.course_id))
        if not EnrollmentService.can_see(row, course, info.context.viewer):
            return None
        return Enrollment.from_model(row)

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Payment:
        return cls(id=id)


# ------------------------------------------------------------------ catalog
@strawberry.federation.type(keys=["id"])
class Course:
    id: strawberry.ID
    slug: str
    title: str
    description: str | None
    status: CourseStatus
    created_at: datetime
    published_at: datetime | None
    _model: strawberry.Private[models.Course]

    @classmethod
    def from_model(cls, course: models.Course) -> Course:
        return cls(
            id=strawberry.ID(str(course.id)),
            slug=course.slug,
            title=course.title,
            description=course.description,
            status=CourseStatus(course.status),
            created_at=course.created_at,
            published_at=course.published_at,
            _model=course,
        )

    @strawberry.field(description="Null: free.")
    def price(self) -> Money | None:
        value = course_price(self._model)
        return Money.from_money(value) if value else None

    @strawberry.field
    def is_free(self) -> bool:
        return course_price(self._model) is None

    @strawberry.field
    def teacher(self) -> User:
        return User(id=strawberry.ID(str(self._model.teacher_id)))

    @strawberry.field
    async def sections(self, info: CourseInfo) -> list[Section]:
        rows = await info.context.loaders.sections_by_course.load(str(self.id))
        return [Section.from_model(s) for s in rows]

    @strawberry.field
    async def lecture_count(self, info: CourseInfo) -> int:
        return await info.context.loaders.lecture_counts.load(str(self.id))

    @strawberry.field(description="ACTIVE + COMPLETED enrollments.")
    async def enrollment_count(self, info: CourseInfo) -> int:
        return await info.context.loaders.enrollment_counts.load(str(self.id))

    @strawberry.field(description="The signed-in viewer's ACTIVE or COMPLETED enrollment.")
    async def viewer_enrollment(self, info: CourseInfo) -> Enrollment | None:
        viewer = info.context.viewer
        if viewer is None:
            return None
        row = await info.context.loaders.current_enrollments.load((viewer.id, str(self.id)))
        return Enrollment.from_model(row) if row else None

    @classmethod
    async def resolve_reference(cls, info: CourseInfo, id: strawberry.ID) -> Course | None:
        return await _visible_course(info, str(id))


async def _visible_course(info: CourseInfo, course_id: str) -> Course | None:
    course = await info.context.loaders.courses.load(course_id)
    if course is None or not can_view(course, info.context.viewer):
        return None
    return Course.from_model(course)


@strawberry.type
class Section:
    id: strawberry.ID
    title: str
    position: int

    @classmethod
    def from_model(cls, section: models.Section) -> Section:
        return cls(
            id=strawberry.ID(str(section.id)), title=section.title, position=section.position
        )

    @strawberry.field
    async def lectures(self, info: CourseInfo) -> list[Lecture]:
        rows = await info.context.loaders.lectures_by_section.load(str(self.id))
        return [Lecture.from_model(lecture) for lecture in rows]


@strawberry.federation.type(keys=["id"])
class Lecture:
    id: strawberry.ID
    title: str
    position: int
    is_preview: bool = strawberry.field(description="Preview lectures play for anyone.")
    duration_seconds: int | None
    video_status: VideoStatus
    _model: strawberry.Private[models.Lecture]

    @classmethod
    def from_model(cls, lecture: models.Lecture) -> Lecture:
        return cls(
            id=strawberry.ID(str(lecture.id)),
            title=lecture.title,
            position=lecture.position,
            is_preview=lecture.is_preview,
            duration_seconds=lecture.duration_seconds,
            video_status=VideoStatus(lecture.video_status),
            _model=lecture,
        )

    @strawberry.field(description="The video file; the files subgraph resolves its details.")
    def video(self) -> File | None:
        file_id = self._model.video_file_id
        return File(id=strawberry.ID(file_id)) if file_id else None

    @strawberry.field
    async def course(self, info: CourseInfo) -> Course:
        course = await info.context.loaders.courses.load(str(self._model.course_id))
        if course is None:
            raise NotFound("The lecture's course no longer exists.")
        return Course.from_model(course)

    @classmethod
    async def resolve_reference(cls, info: CourseInfo, id: strawberry.ID) -> Lecture | None:
        return await _visible_lecture(info, str(id))


async def _visible_lecture(info: CourseInfo, lecture_id: str) -> Lecture | None:
    loaders = info.context.loaders
    lecture = await loaders.lectures.load(lecture_id)
    if lecture is None:
        return None
    course = await loaders.courses.load(str(lecture.course_id))
    if course is None or not can_view(course, info.context.viewer):
        return None
    return Lecture.from_model(lecture)


@strawberry.type
class CourseEdge:
    cursor: str
    node: Course


@strawberry.type
class CourseConnection:
    edges: list[CourseEdge]
    page_info: PageInfo
    _filter: strawberry.Private[CatalogFilter]

    @strawberry.field(description="Courses matching the filters, on every page.")
    async def total_count(self, info: CourseInfo) -> int:
        return await info.context.container.courses.count(self._filter)


# ------------------------------------------------------------------ enrollments
@strawberry.type
class Certificate:
    id: strawberry.ID
    code: str = strawberry.field(description="Unguessable, public verification code.")
    issued_at: datetime
    student_name: str
    course_title: str

    @classmethod
    def from_model(cls, certificate: models.Certificate) -> Certificate:
        return cls(
            id=strawberry.ID(str(certificate.id)),
            code=certificate.code,
            issued_at=certificate.issued_at,
            student_name=certificate.student_name,
            course_title=certificate.course_title,
        )


@strawberry.federation.type(keys=["id"])
class Enrollment:
    id: strawberry.ID
    status: EnrollmentStatus
    progress_percentage: float = strawberry.field(description="0..100")
    total_watch_time: int = strawberry.field(description="Seconds.")
    enrolled_at: datetime
    completed_at: datetime | None
    dropped_at: datetime | None
    _model: strawberry.Private[models.Enrollment]

    @classmethod
    def from_model(cls, enrollment: models.Enrollment) -> Enrollment:
        return cls(
            id=strawberry.ID(str(enrollment.id)),
            status=EnrollmentStatus(enrollment.status),
            progress_percentage=enrollment.progress_percentage,
            total_watch_time=enrollment.total_watch_time,
            enrolled_at=enrollment.enrolled_at,
            completed_at=enrollment.completed_at,
            dropped_at=enrollment.dropped_at,
            _model=enrollment,
        )

    @strawberry.field
    def user(self) -> User:
        return User(id=strawberry.ID(str(self._model.user_id)))

    @strawberry.field
    async def course(self, info: CourseInfo) -> Course:
        course = await info.context.loaders.courses.load(str(self._model.course_id))
        if course is None:
            raise NotFound("The enrollment's course no longer exists.")
        return Course.from_model(course)

    @strawberry.field
    async def certificate(self, info: CourseInfo) -> Certificate | None:
        row = await info.context.loaders.certificates_by_enrollment.load(str(self.id))
        return Certificate.from_model(row) if row else None

    @strawberry.field(description="Null for free courses.")
    def payment(self) -> Payment | None:
        payment_id = self._model.payment_id
        return Payment(id=strawberry.ID(payment_id)) if payment_id else None

    @classmethod
    async def resolve_reference(cls, info: CourseInfo, id: strawberry.ID) -> Enrollment | None:
        loaders = info.context.loaders
        row = await loaders.enrollments.load(str(id))
        if row is None:
            return None
        course = await loaders.courses.load(str(row.course_id))
        if not EnrollmentService.can_see(row, course, info.context.viewer):
            return None
        return cls.from_model(row)


@strawberry.type
class PaymentRequired:
    course: Course
    price: Money
    payment: Payment | None = strawberry.field(
        description="Created when enroll() was given a provider."
    )


EnrollResult = Annotated[Enrollment | PaymentRequired, strawberry.union("EnrollResult")]


# ------------------------------------------------------------------ inputs
@strawberry.input
class CreateCourseInput:
    title: str
    description: str | None = strawberry.UNSET
    price: MoneyInput | None = strawberry.UNSET
    teacher_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="ADMIN only: the TEACHER who owns the course (default: the viewer).",
    )


@strawberry.input
class UpdateCourseInput:
    title: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    price: MoneyInput | None = strawberry.field(
        default=strawberry.UNSET, description="null makes the course free."
    )


@strawberry.input
class AddLectureInput:
    title: str
    is_preview: bool | None = False


@strawberry.input
class UploadInput:
    file_name: str
    file_size: float = strawberry.field(description="In bytes; may exceed 2^31.")
    content_type: str


def _price(value: MoneyInput | None) -> PriceInput | None:
    return PriceInput(value.amount, value.currency) if value else None


def _given(value: _T) -> _T | Keep:
    return KEEP if value is strawberry.UNSET else value


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

    @strawberry.field
    async def certificate_issued(self, info: CourseInfo) -> bool:
        row = await info.context.loaders.certificates_by_enrollment.load(str(self.id))
        return row is not None

    @classmethod
    def from_model(cls, enrollment: models.Enrollment) -> InternalEnrollment:
        return cls(
            id=strawberry.ID(str(enrollment.id)),
            user_id=strawberry.ID(str(enrollment.user_id)),
            course_id=strawberry.ID(str(enrollment.course_id)),
            status=EnrollmentStatus(enrollment.status),
            progress_percentage=enrollment.progress_percentage,
        )


@strawberry.federation.type(inaccessible=True)
class InternalProgress:
    enrolled: bool
    status: EnrollmentStatus | None
    progress_percentage: float
    certificate_issued: bool


async def _course_pricing(info: CourseInfo, course_id: strawberry.ID) -> CoursePricing | None:
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


async def _enrollment_for_payment(
    info: CourseInfo, payment_id: strawberry.ID
) -> InternalEnrollment | None:
    row = await info.context.loaders.enrollments_by_payment.load(str(payment_id))
    return InternalEnrollment.from_model(row) if row else None


async def _viewer_progress(
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


async def _complete_paid_enrollment(
    info: CourseInfo, user_id: strawberry.ID, course_id: strawberry.ID, payment_id: strawberry.ID
) -> InternalEnrollment:
    row = await info.context.container.enrollments.complete_paid(
        str(user_id), str(course_id), str(payment_id)
    )
    return InternalEnrollment.from_model(row)


async def _drop_enrollment_for_payment(
    info: CourseInfo, payment_id: strawberry.ID
) -> InternalEnrollment | None:
    row = await info.context.container.enrollments.drop_for_payment(str(payment_id))
    return InternalEnrollment.from_model(row) if row else None


async def _record_video_status(
    info: CourseInfo, file_id: strawberry.ID, status: VideoStatus, duration_seconds: int | None
) -> bool:
    return await info.context.container.videos.record_video_status(
        str(file_id), status.value, duration_seconds
    )


# ------------------------------------------------------------------ roots
@strawberry.type
class Query:
    @strawberry.field(description="Published courses (a teacher's own listing adds drafts).")
    async def courses(
        self,
        info: CourseInfo,
        first: int | None = 20,
        after: str | None = strawberry.UNSET,
        search: str | None = strawberry.UNSET,
        teacher_id: strawberry.ID | None = strawberry.UNSET,
        free_only: bool | None = strawberry.UNSET,
    ) -> CourseConnection:
        page = await info.context.container.courses.browse(
            info.context.viewer,
            first=20 if first is None else first,
            after=after or None,
            search=search or None,
            teacher_id=str(teacher_id) if teacher_id else None,
            free_only=bool(free_only),
        )
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
            return await _visible_course(info, str(id))
        found = await info.context.container.courses.get_by_slug(str(slug))
        return await _visible_course(info, str(found.id)) if found else None

    @strawberry.field
    async def lecture(self, info: CourseInfo, id: strawberry.ID) -> Lecture | None:
        return await _visible_lecture(info, str(id))

    @strawberry.federation.field(
        authenticated=True, description="The viewer's enrollments, newest first."
    )
    async def my_enrollments(self, info: CourseInfo) -> list[Enrollment]:
        viewer = info.context.require_viewer()
        rows = await info.context.loaders.enrollments_by_user.load(viewer.id)
        return [Enrollment.from_model(e) for e in rows]

    @strawberry.field(description="Public: the certificate with this code, if any.")
    async def verify_certificate(self, info: CourseInfo, code: str) -> Certificate | None:
        row = await info.context.container.enrollments.verify_certificate(code)
        return Certificate.from_model(row) if row else None

    course_pricing: CoursePricing | None = internal_field(
        _course_pricing,
        services=["payments"],
        description="A course's price, status and teacher (null: no such course).",
    )
    enrollment_for_payment: InternalEnrollment | None = internal_field(
        _enrollment_for_payment,
        services=["payments"],
        description="The enrollment a payment paid for, if any.",
    )
    viewer_progress: InternalProgress | None = internal_field(
        _viewer_progress,
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
            _price(input.price or None),
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
        title = _given(input.title)
        price = _given(input.price)
        course = await info.context.container.courses.update_course(
            info.context.viewer,
            str(id),
            # A null title means "no change": a course always has one.
            title=KEEP if title is None else title,
            description=_given(input.description),
            price=price if isinstance(price, Keep) else _price(price),
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
        requires_scopes=[["teach"]], description="New order of all the course's sections."
    )
    async def reorder_sections(
        self, info: CourseInfo, course_id: strawberry.ID, section_ids: list[strawberry.ID]
    ) -> list[Section]:
        sections = await info.context.container.courses.reorder_sections(
            info.context.viewer, str(course_id), [str(i) for i in section_ids]
        )
        return [Section.from_model(s) for s in sections]

    @strawberry.federation.mutation(
        requires_scopes=[["teach"]], description="New order of all the section's lectures."
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
        return UploadTicket.from_ticket(ticket)

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
        _complete_paid_enrollment,
        services=["payments"],
        description="The enrollment a succeeded payment pays for; idempotent on paymentId.",
    )
    drop_enrollment_for_payment: InternalEnrollment | None = internal_field(
        _drop_enrollment_for_payment,
        services=["payments"],
        description="Drops the enrollment of a refunded payment; idempotent.",
    )
    record_video_status: bool = internal_field(
        _record_video_status,
        services=["files"],
        description="Video status of the lecture whose video is the file (false: none is).",
    )


schema = build_schema(
    query=Query, mutation=Mutation, types=[User, Payment, Course, Lecture, Enrollment, File]
)
