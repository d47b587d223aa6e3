"""Courses' GraphQL object types, enums and inputs (resolvers stay thin: loaders and services)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime
from typing import Annotated, TypeVar

import strawberry
from strawberry.permission import PermissionExtension
from strawberry.types import Info

from coursegraph.cache_control import restrict_cache
from coursegraph.context import RequestContext
from coursegraph.errors import NotFound
from coursegraph.graphql_types import (
    Money,
    MoneyInput,
    PageInfo,
    UploadHeader,
    UploadTicket,
    list_size,
)
from coursegraph.lookahead import now_or_later, selects, then
from subgraphs.courses import clients
from subgraphs.courses.bootstrap import CoursesContainer
from subgraphs.courses.loaders import CoursesLoaders
from subgraphs.courses.models import CourseStatus, EnrollmentStatus, PaymentProvider, VideoStatus
from subgraphs.courses.policy import (
    EnrollmentsOfSelfOrAdmin,
    can_see_enrollment,
    can_view,
    can_watch,
    lists_everything_of,
)
from subgraphs.courses.rows import (
    AnyCertificate,
    AnyCourse,
    AnyEnrollment,
    AnyLecture,
    AnySection,
    CourseRow,
    EnrollmentRow,
)
from subgraphs.courses.service import (
    KEEP,
    MAX_LECTURES_PER_SECTION,
    MAX_SECTIONS_PER_COURSE,
    CatalogFilter,
    Counts,
    Keep,
    PriceInput,
    WithCounts,
    course_price,
)

Context = RequestContext[CoursesContainer, CoursesLoaders]
CourseInfo = Info[Context, None]
_T = TypeVar("_T")


# ------------------------------------------------------------------ enums and values
# The GraphQL enums are the models' own (the values stored are the values served).
strawberry.enum(CourseStatus)
strawberry.enum(VideoStatus)
strawberry.enum(EnrollmentStatus)
strawberry.enum(PaymentProvider)


# Files issues upload tickets; courses hands them to clients unchanged.
def ticket_from_files(ticket: clients.UploadTicket) -> UploadTicket:
    return UploadTicket(
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

    @strawberry.field(
        description="FORBIDDEN unless the viewer is this user or an ADMIN; newest first, at "
        "most `first` (1 to 100).",
        directives=[list_size(slicing=["first"])],
        extensions=[PermissionExtension([EnrollmentsOfSelfOrAdmin()], use_directives=False)],
    )
    async def enrollments(self, info: CourseInfo, first: int = 100) -> list[Enrollment]:
        size = info.context.container.courses.check_page_size(first)
        rows = (await info.context.loaders.enrollments_by_user.load(str(self.id)))[:size]
        await load_enrollment_fields(info, rows)
        return [Enrollment.from_model(e) for e in rows]

    @strawberry.field(
        description="Published courses, plus drafts for their teacher; newest first, at "
        "most `first` (1 to 100).",
        directives=[list_size(slicing=["first"])],
    )
    async def taught_courses(self, info: CourseInfo, first: int = 100) -> list[Course]:
        viewer = info.context.viewer
        everything = lists_everything_of(viewer, self.id)
        size = info.context.container.courses.check_page_size(first)
        rows = await info.context.loaders.courses_by_teacher.load((str(self.id), everything, size))
        return [Course.from_model(c) for c in rows]

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
        if not can_see_enrollment(row, course, info.context.viewer):
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
    # Values, not resolvers: a plain field skips Strawberry's per-field resolver wrapping
    # (20 courses a page), and each costs less to build than a resolver call does.
    price: Money | None = strawberry.field(description="Null: free.")
    is_free: bool
    teacher: User
    _model: strawberry.Private[AnyCourse]

    @classmethod
    def from_model(cls, course: AnyCourse) -> Course:
        price = course_price(course)
        return cls(
            id=strawberry.ID(str(course.id)),
            slug=course.slug,
            title=course.title,
            description=course.description,
            status=CourseStatus(course.status),
            created_at=course.created_at,
            published_at=course.published_at,
            price=Money.from_money(price) if price else None,
            is_free=price is None,
            teacher=User(id=strawberry.ID(str(course.teacher_id))),
            _model=course,
        )

    @strawberry.field(directives=[list_size(assumed=MAX_SECTIONS_PER_COURSE)])
    async def sections(self, info: CourseInfo) -> list[Section]:
        loaders = info.context.loaders
        if "lectures" in selects(info):
            # Sections and lectures in one statement; the lectures wait in their loader.
            curriculum = await loaders.curricula.load(str(self.id))
            for section, lectures in curriculum:
                loaders.lectures_by_section.prime(str(section.id), lectures)
            return [Section.from_model(s) for s, _ in curriculum]
        rows = await loaders.sections_by_course.load(str(self.id))
        return [Section.from_model(s) for s in rows]

    # Answered at once when the list holding the course loaded it (coursegraph.lookahead).
    @strawberry.field(graphql_type=int)
    def lecture_count(self, info: CourseInfo) -> int | Awaitable[int]:
        return now_or_later(info.context.loaders.lecture_counts, str(self.id))

    @strawberry.field(graphql_type=int, description="ACTIVE + COMPLETED enrollments.")
    def enrollment_count(self, info: CourseInfo) -> int | Awaitable[int]:
        return now_or_later(info.context.loaders.enrollment_counts, str(self.id))

    @strawberry.field(description="The signed-in viewer's ACTIVE or COMPLETED enrollment.")
    async def viewer_enrollment(self, info: CourseInfo) -> Enrollment | None:
        viewer = info.context.viewer
        if viewer is None:
            return None  # the same for every anonymous caller: cacheable with the page
        # The viewer's progress changes without an event: a signed-in page is never kept.
        restrict_cache(info, max_age=0)
        row = await info.context.loaders.current_enrollments.load((viewer.id, str(self.id)))
        return Enrollment.from_model(row) if row else None

    @classmethod
    async def resolve_reference(cls, info: CourseInfo, id: strawberry.ID) -> Course | None:
        return await visible_course(info, str(id))


def selected_counts(info: CourseInfo, *path: str) -> WithCounts:
    """The counts the request selects of the courses at `path`: read with the courses."""
    wanted = selects(info, *path)
    return WithCounts(lectures="lectureCount" in wanted, enrollments="enrollmentCount" in wanted)


def prime_counts(loaders: CoursesLoaders, course: CourseRow, counts: Counts) -> None:
    """Hands the counts read with a course to its loaders: `lectureCount` and
    `enrollmentCount` then answer at once (`now_or_later`)."""
    key = str(course.id)
    lectures, enrollments = counts
    if lectures is not None:
        loaders.lecture_counts.prime(key, lectures)
    if enrollments is not None:
        loaders.enrollment_counts.prime(key, enrollments)


async def load_enrollment_fields(info: CourseInfo, rows: list[EnrollmentRow]) -> None:
    """Loads, for all these enrollments at once, the courses (and their counts) and the
    certificates the request selects below the list."""
    wanted = selects(info)
    loaders = info.context.loaders
    loads: list[Awaitable[object]] = []
    if "course" in wanted:
        course_ids = list({str(e.course_id): None for e in rows})
        loads.append(load_courses(info, course_ids, selected_counts(info, "course")))
    if "certificate" in wanted:
        loads.append(loaders.certificates_by_enrollment.load_many([str(e.id) for e in rows]))
    await asyncio.gather(*loads)


async def load_courses(info: CourseInfo, course_ids: list[str], counts: WithCounts) -> None:
    """The courses, with the `counts` the request selects, in one statement, handed to
    the loaders."""
    loaders = info.context.loaders
    found = await info.context.container.courses.get_many_counted(course_ids, counts)
    for key, counted in zip(course_ids, found, strict=True):
        if counted is None:
            loaders.courses.prime(key, None)
        else:
            loaders.courses.prime(key, counted[0])
            prime_counts(loaders, *counted)


async def visible_course(info: CourseInfo, course_id: str) -> Course | None:
    course = await info.context.loaders.courses.load(course_id)
    if course is not None and course.status == CourseStatus.DRAFT:
        # Seen by its teacher and ADMINs only: the answer depends on who asks.
        restrict_cache(info, private=True)
    if course is None or not can_view(course, info.context.viewer):
        return None
    return Course.from_model(course)


@strawberry.federation.type(keys=["id"])
class Lecture:
    id: strawberry.ID
    title: str
    position: int
    is_preview: bool = strawberry.field(description="Preview lectures play for anyone.")
    duration_seconds: int | None
    video_status: VideoStatus
    _model: strawberry.Private[AnyLecture]

    @classmethod
    def from_model(cls, lecture: AnyLecture) -> Lecture:
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
        return await visible_lecture(info, str(id))


async def visible_lecture(info: CourseInfo, lecture_id: str) -> Lecture | None:
    loaders = info.context.loaders
    lecture = await loaders.lectures.load(lecture_id)
    if lecture is None:
        return None
    course = await loaders.courses.load(str(lecture.course_id))
    if course is not None and course.status == CourseStatus.DRAFT:
        restrict_cache(info, private=True)
    if course is None or not can_view(course, info.context.viewer):
        return None
    return Lecture.from_model(lecture)


@strawberry.type
class Section:
    id: strawberry.ID
    title: str
    position: int

    @classmethod
    def from_model(cls, section: AnySection) -> Section:
        return cls(
            id=strawberry.ID(str(section.id)), title=section.title, position=section.position
        )

    # At once when the course's `sections` read the lectures along (`curricula`).
    @strawberry.field(
        graphql_type=list[Lecture], directives=[list_size(assumed=MAX_LECTURES_PER_SECTION)]
    )
    def lectures(self, info: CourseInfo) -> list[Lecture] | Awaitable[list[Lecture]]:
        loaded = now_or_later(info.context.loaders.lectures_by_section, str(self.id))
        return then(loaded, lambda rows: [Lecture.from_model(lecture) for lecture in rows])


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
    revoked_at: datetime | None = strawberry.field(
        description="When the certificate was revoked (its paid seat was refunded); "
        "null while it is valid."
    )

    @strawberry.field(description="False once revoked.")
    def valid(self) -> bool:
        return self.revoked_at is None

    @classmethod
    def from_model(cls, certificate: AnyCertificate) -> Certificate:
        return cls(
            id=strawberry.ID(str(certificate.id)),
            code=certificate.code,
            issued_at=certificate.issued_at,
            student_name=certificate.student_name,
            course_title=certificate.course_title,
            revoked_at=certificate.revoked_at,
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
    _model: strawberry.Private[AnyEnrollment]

    @classmethod
    def from_model(cls, enrollment: AnyEnrollment) -> Enrollment:
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

    @strawberry.field(graphql_type=Course)
    def course(self, info: CourseInfo) -> Course | Awaitable[Course]:
        loaded = now_or_later(info.context.loaders.courses, str(self._model.course_id))
        return then(loaded, _enrolled_course)

    @strawberry.field(graphql_type=Certificate | None)
    def certificate(self, info: CourseInfo) -> Certificate | Awaitable[Certificate | None] | None:
        loaded = now_or_later(info.context.loaders.certificates_by_enrollment, str(self.id))
        return then(loaded, lambda row: Certificate.from_model(row) if row else None)

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
        if not can_see_enrollment(row, course, info.context.viewer):
            return None
        return cls.from_model(row)


def _enrolled_course(course: AnyCourse | None) -> Course:
    if course is None:
        raise NotFound("The enrollment's course no longer exists.")
    return Course.from_model(course)


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


def price_input(value: MoneyInput | None) -> PriceInput | None:
    return PriceInput(value.amount, value.currency) if value else None


def given(value: _T) -> _T | Keep:
    return KEEP if value is strawberry.UNSET else value
