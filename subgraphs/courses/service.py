"""Catalog and curriculum: courses, sections, lectures, browsing.

No GraphQL and no HTTP here; every public method owns its transaction. Enrollments,
progress and certificates live in `enrollments.py`, lecture videos in `videos.py`.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from functools import cache, lru_cache
from typing import Any, TypeVar

from sqlalchemy import (
    ARRAY,
    Boolean,
    ColumnElement,
    DateTime,
    Float,
    Integer,
    ScalarSelect,
    Select,
    String,
    Text,
    Uuid,
    bindparam,
    column,
    func,
    null,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import TSVECTOR, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.selectable import TableValuedAlias

from contracts.events.courses import CourseChange, CourseUpdated
from coursegraph import outbox
from coursegraph.batch import count_by_key, load_by_key, rows_grouped_by_key
from coursegraph.db import Database
from coursegraph.errors import BadUserInput, Conflict, Forbidden, NotFound
from coursegraph.identity import Role, Viewer
from coursegraph.ids import parse_uuid
from coursegraph.money import Money, to_minor
from subgraphs.courses.clients import UsersClient
from subgraphs.courses.cursors import CourseCursor, listing_key
from subgraphs.courses.models import (
    CURRENT_WHERE,
    Course,
    CourseCount,
    CourseStatus,
    Enrollment,
    Lecture,
    Section,
    VideoStatus,
)
from subgraphs.courses.models import outbox as outbox_table
from subgraphs.courses.policy import (
    can_view,
    lists_everything_of,
    require_author,
    require_editable,
    require_manage,
)
from subgraphs.courses.rows import (
    COURSE_COLUMNS,
    LECTURE_COLUMNS,
    SECTION_COLUMNS,
    AnyCourse,
    CourseRow,
    LectureRow,
    SectionRow,
)

MAX_TITLE_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 10_000
MAX_SEARCH_LENGTH = 200
# Curriculum sizes, enforced on creation and declared to routers as `@listSize` sizes.
MAX_SECTIONS_PER_COURSE = 50
MAX_LECTURES_PER_SECTION = 50
MAX_SLUG_BASE = 80
SEARCH_CONFIG = "english"
# A search lists (and counts) at most this many courses: its newest matches, ordered by
# relevance. A bound as large search engines keep one; more than a person pages through.
SEARCH_CANDIDATES = 1000

_Item = TypeVar("_Item", Section, Lecture)
# A `taughtCourses` load: (teacher id, unpublished courses too, at most this many).
TaughtKey = tuple[str, bool, int]
# A course's (lectures, ACTIVE + COMPLETED enrollments), read with it; None: not asked.
Counts = tuple[int | None, int | None]
NO_COUNTS: Counts = (None, None)
# A course's curriculum: its sections in order, each with its lectures in order.
Curriculum = list[tuple[SectionRow, list[LectureRow]]]
_WIDTH = len(COURSE_COLUMNS)
# Correlated counts, one index lookup per course (ix_lectures_course_id, and the partial
# ix_enrollments_course_current, whose predicate CURRENT_WHERE repeats as constant SQL).
_LECTURE_COUNT = (
    select(func.count()).where(Lecture.course_id == Course.id).correlate(Course).scalar_subquery()
)
_ENROLLMENT_COUNT = (
    select(func.count())
    .select_from(Enrollment)
    .where(Enrollment.course_id == Course.id, CURRENT_WHERE)
    .correlate(Course)
    .scalar_subquery()
)


class Keep(Enum):
    """Marks an update argument that was not given: the stored value stays."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True, slots=True)
class PriceInput:
    amount: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class CatalogFilter:
    statuses: tuple[CourseStatus, ...]
    search: str | None
    teacher_id: uuid.UUID | None
    free_only: bool
    # The listing's count when the page's own query computed it (a search does).
    total: int | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        return listing_key(self.statuses, self.search, self.teacher_id, self.free_only)


@dataclass(frozen=True, slots=True)
class WithCounts:
    """The counts a page selects of its courses: read in the courses' own statement."""

    lectures: bool = False
    enrollments: bool = False

    def columns(self) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
        return (
            _LECTURE_COUNT if self.lectures else null(),
            _ENROLLMENT_COUNT if self.enrollments else null(),
        )


@dataclass(frozen=True, slots=True)
class CoursePage:
    courses: list[CourseRow]
    cursors: list[str]
    has_next_page: bool
    # Kept so `totalCount` runs its COUNT only when a client asks for it (and the page's
    # statement did not count already).
    filter: CatalogFilter
    counts: list[Counts] = field(default_factory=list)


def _tsquery() -> ScalarSelect[Any]:
    """The search's tsquery (parameter `search`) as a one-row subquery: PostgreSQL parses
    it once per statement. As a plain call it was parsed again for every row in the generic
    plan the prepared statement gets after five runs: in every `ts_rank` and every recheck
    (a phrase)."""
    text = bindparam("search", type_=String)
    return select(func.websearch_to_tsquery(SEARCH_CONFIG, text)).scalar_subquery()


def _search_matches() -> TableValuedAlias:
    """The courses a search ranks: its SEARCH_CANDIDATES newest matches, which
    `courses.search_matches` (migration courses_0005) reads block by block of creation
    time, newest first, so a common term costs about that many heap rows however many
    courses match, and ranking costs at most that many `ts_rank` calls. Parameters:
    `search`, `statuses`, `teacher_id`, `free_only` (`_search_parameters`)."""
    return func.courses.search_matches(
        _tsquery(),
        bindparam("statuses", type_=ARRAY(Text)),
        bindparam("teacher_id", type_=Uuid),
        bindparam("free_only", type_=Boolean),
        SEARCH_CANDIDATES,
    ).table_valued(
        column("id", Uuid),
        column("created_at", DateTime(timezone=True)),
        column("search", TSVECTOR),
        name="candidates",
    )


def _search_parameters(catalog: CatalogFilter) -> dict[str, Any]:
    return {
        "search": catalog.search,
        "statuses": [str(status) for status in catalog.statuses],
        "teacher_id": catalog.teacher_id,
        "free_only": catalog.free_only,
    }


@cache
def _search_statement(counts: WithCounts, after: bool) -> Select[Any]:
    """A search page, built once per shape so each request only binds its values (its
    cache key and SQL are then SQLAlchemy's memoized ones): the candidates ranked and
    counted, the page's rows (`limit`, after `after_rank`, `after_created_at`,
    `after_id` when `after`) cut from them, and only those joined back to their courses.
    """
    candidates = _search_matches()
    ranked = select(
        candidates.c.id,
        candidates.c.created_at,
        func.ts_rank(candidates.c.search, _tsquery()).label("rank"),
        func.count().over().label("total"),
    ).subquery("ranked")
    keys = [ranked.c.rank, ranked.c.created_at, ranked.c.id]
    page_rows = select(ranked)
    if after:
        # Every key sorts descending, so "after" is one row comparison.
        bound = tuple_(
            bindparam("after_rank", type_=Float),
            bindparam("after_created_at", type_=DateTime(timezone=True)),
            bindparam("after_id", type_=Uuid),
        )
        page_rows = page_rows.where(tuple_(*keys) < bound)
    limit = bindparam("limit", type_=Integer)
    in_page = page_rows.order_by(*(k.desc() for k in keys)).limit(limit).subquery("page")
    return (
        select(*COURSE_COLUMNS, *counts.columns(), in_page.c.rank, in_page.c.total)
        .join_from(Course, in_page, in_page.c.id == Course.id)
        .order_by(in_page.c.rank.desc(), in_page.c.created_at.desc(), in_page.c.id.desc())
    )


_SEARCH_COUNT = select(func.count()).select_from(_search_matches())


def _counted(row: Sequence[Any]) -> tuple[CourseRow, Counts]:
    """A course and its counts from a row of COURSE_COLUMNS and `WithCounts.columns()`."""
    return CourseRow(*row[:_WIDTH]), (row[_WIDTH], row[_WIDTH + 1])


def course_price(course: AnyCourse) -> Money | None:
    if course.price_amount_minor is None or course.currency is None:
        return None
    return Money(course.price_amount_minor, course.currency)


def clean_title(title: str) -> str:
    value = " ".join(title.split())
    if not value:
        raise BadUserInput("The title must not be empty.", field="title")
    if len(value) > MAX_TITLE_LENGTH:
        raise BadUserInput(
            f"The title may have at most {MAX_TITLE_LENGTH} characters.", field="title"
        )
    return value


def clean_description(description: str | None) -> str | None:
    value = (description or "").strip()
    if len(value) > MAX_DESCRIPTION_LENGTH:
        raise BadUserInput(
            f"The description may have at most {MAX_DESCRIPTION_LENGTH} characters.",
            field="description",
        )
    return value or None


def slugify(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return slug[:MAX_SLUG_BASE].rstrip("-") or "course"


def _price_values(price: PriceInput | None) -> dict[str, Any]:
    if price is None:
        return {"price_amount_minor": None, "currency": None}
    money = to_minor(price.amount, price.currency)
    if money.minor == 0:
        # A zero price is how a form says "free"; storing it as free keeps one meaning.
        return {"price_amount_minor": None, "currency": None}
    return {"price_amount_minor": money.minor, "currency": money.currency}


class CourseService:
    def __init__(
        self,
        database: Database,
        users: UsersClient,
        max_page_size: int,
        on_event: Callable[[], None] = lambda: None,
    ) -> None:
        self._db = database
        self._users = users
        self._max_page_size = max_page_size
        # Called after a commit that wrote outbox rows (wakes the relay).
        self._on_event = on_event

    async def _changed(self, session: AsyncSession, course: Course, change: CourseChange) -> None:
        """Announce, in the change's transaction, that what pages show of `course` changed
        (the router's response cache drops it; docs/caching.md)."""
        event = CourseUpdated(
            courseId=str(course.id), teacherId=str(course.teacher_id), change=change
        )
        await outbox.add(session, outbox_table, event)

    # ------------------------------------------------------------------ catalog
    async def create_course(
        self,
        viewer: Viewer | None,
        title: str,
        description: str | None,
        price: PriceInput | None,
        teacher_id: str | None = None,
    ) -> Course:
        author = require_author(viewer)
        values = {
            "title": clean_title(title),
            "description": clean_description(description),
            "status": CourseStatus.DRAFT,
            **_price_values(price),
        }
        # Checked last: the input is refused before any call to users.
        values["teacher_id"] = await self._teacher_for(author, teacher_id)
        base = slugify(values["title"])
        async with self._db.transaction() as session:
            # The unique index decides; a taken slug gets a random suffix and tries again.
            for attempt in range(5):
                slug = base if attempt == 0 else f"{base}-{secrets.token_hex(3)}"
                course = await session.scalar(
                    insert(Course)
                    .values(id=uuid.uuid4(), slug=slug, **values)
                    .on_conflict_do_nothing(index_elements=[Course.slug])
                    .returning(Course)
                )
                if course is not None:
                    await self._changed(session, course, "created")
                    break
            if course is None:
                raise Conflict("Could not find a free slug for this title; change the title.")
        self._on_event()
        return course

    async def _teacher_for(self, author: Viewer, teacher_id: str | None) -> uuid.UUID:
        """Whose course it is: the author's own, or (ADMIN only) a checked TEACHER's."""
        if teacher_id is None or str(teacher_id) == author.id:
            return uuid.UUID(author.id)
        if not author.is_admin:
            raise Forbidden("Teachers create courses only for themselves.", field="teacherId")
        parsed = parse_uuid(teacher_id)
        account = await self._users.account(str(parsed)) if parsed else None
        if account is None:
            raise BadUserInput("No user has this id.", field="teacherId")
        if account.role != Role.TEACHER:
            raise BadUserInput("That user is not a teacher.", field="teacherId")
        return uuid.UUID(account.id)

    async def update_course(
        self,
        viewer: Viewer | None,
        course_id: str,
        *,
        title: str | Keep = KEEP,
        description: str | Keep | None = KEEP,
        price: PriceInput | Keep | None = KEEP,
    ) -> Course:
        async with self._db.transaction() as session:
            course = require_manage(await self._lock(session, course_id), viewer)
            if course.status == CourseStatus.ARCHIVED:
                raise Conflict("An archived course cannot be changed.")
            if not isinstance(title, Keep):
                course.title = clean_title(title)
            if not isinstance(description, Keep):
                course.description = clean_description(description)
            if not isinstance(price, Keep):
                for name, value in _price_values(price).items():
                    setattr(course, name, value)
            await self._changed(session, course, "details")
        self._on_event()
        return course

    async def publish_course(self, viewer: Viewer | None, course_id: str) -> Course:
        async with self._db.transaction() as session:
            course = require_manage(await self._lock(session, course_id), viewer)
            if course.status == CourseStatus.PUBLISHED:
                return course
            if course.status == CourseStatus.ARCHIVED:
                raise Conflict("An archived course cannot be published again.")
            has_lecture = await session.scalar(
                select(select(Lecture.id).where(Lecture.course_id == course.id).exists())
            )
            if not has_lecture:
                raise Conflict("Add at least one lecture before publishing.")
            course.status = CourseStatus.PUBLISHED
            course.published_at = datetime.now(UTC)
            await self._changed(session, course, "published")
        self._on_event()
        return course

    async def archive_course(self, viewer: Viewer | None, course_id: str) -> Course:
        async with self._db.transaction() as session:
            course = require_manage(await self._lock(session, course_id), viewer)
            if course.status == CourseStatus.DRAFT:
                raise Conflict("Only a published course can be archived.")
            course.status = CourseStatus.ARCHIVED
            await self._changed(session, course, "archived")
        self._on_event()
        return course

    async def _lock(self, session: AsyncSession, course_id: object) -> Course | None:
        """The course row, locked: curriculum edits of one course run one at a time."""
        parsed = parse_uuid(course_id)
        if parsed is None:
            return None
        return await session.get(Course, parsed, with_for_update=True)

    # ------------------------------------------------------------------ curriculum
    async def add_section(self, viewer: Viewer | None, course_id: str, title: str) -> Section:
        async with self._db.transaction() as session:
            # The course row is locked: concurrent additions count one after the other.
            course = require_editable(require_manage(await self._lock(session, course_id), viewer))
            count, last = (
                await session.execute(
                    select(func.count(), func.max(Section.position)).where(
                        Section.course_id == course.id
                    )
                )
            ).one()
            if count >= MAX_SECTIONS_PER_COURSE:
                raise Conflict(f"A course has at most {MAX_SECTIONS_PER_COURSE} sections.")
            section = Section(
                id=uuid.uuid4(),
                course_id=course.id,
                title=clean_title(title),
                position=(last or 0) + 1,
            )
            session.add(section)
            await self._changed(session, course, "curriculum")
        self._on_event()
        return section

    async def add_lecture(
        self, viewer: Viewer | None, section_id: str, title: str, is_preview: bool
    ) -> Lecture:
        require_author(viewer)
        async with self._db.transaction() as session:
            section = await self._section(session, section_id)
            course = require_editable(
                require_manage(await self._lock(session, section.course_id), viewer)
            )
            count, last = (
                await session.execute(
                    select(func.count(), func.max(Lecture.position)).where(
                        Lecture.section_id == section.id
                    )
                )
            ).one()
            if count >= MAX_LECTURES_PER_SECTION:
                raise Conflict(f"A section has at most {MAX_LECTURES_PER_SECTION} lectures.")
            lecture = Lecture(
                id=uuid.uuid4(),
                section_id=section.id,
                course_id=section.course_id,
                title=clean_title(title),
                position=(last or 0) + 1,
                is_preview=is_preview,
                video_status=VideoStatus.NONE,
            )
            session.add(lecture)
            await self._changed(session, course, "curriculum")
        self._on_event()
        return lecture

    async def reorder_sections(
        self, viewer: Viewer | None, course_id: str, section_ids: Sequence[str]
    ) -> list[Section]:
        async with self._db.transaction() as session:
            course = require_editable(require_manage(await self._lock(session, course_id), viewer))
            sections = list(
                await session.scalars(select(Section).where(Section.course_id == course.id))
            )
            ordered = _permutation(sections, section_ids, "sectionIds")
            _renumber(ordered)
            await self._changed(session, course, "curriculum")
        self._on_event()
        return ordered

    async def reorder_lectures(
        self, viewer: Viewer | None, section_id: str, lecture_ids: Sequence[str]
    ) -> list[Lecture]:
        require_author(viewer)
        async with self._db.transaction() as session:
            section = await self._section(session, section_id)
            course = await self._lock(session, section.course_id)
            managed = require_editable(require_manage(course, viewer))
            lectures = list(
                await session.scalars(select(Lecture).where(Lecture.section_id == section.id))
            )
            ordered = _permutation(lectures, lecture_ids, "lectureIds")
            _renumber(ordered)
            await self._changed(session, managed, "curriculum")
        self._on_event()
        return ordered

    async def _section(self, session: AsyncSession, section_id: object) -> Section:
        parsed = parse_uuid(section_id)
        section = await session.get(Section, parsed) if parsed else None
        if section is None:
            raise NotFound("No such section.")
        return section

    # ------------------------------------------------------------------ browsing
    async def browse(
        self,
        viewer: Viewer | None,
        *,
        first: int,
        after: str | None,
        search: str | None,
        teacher_id: str | None,
        free_only: bool,
        counts: WithCounts = WithCounts(),
        total: bool = False,
    ) -> CoursePage:
        """A page of the catalog, with the `counts` of its courses and (`total`) the
        listing's count read by the same statement."""
        self.check_page_size(first)
        catalog = self._filter(viewer, search, teacher_id, free_only)
        if catalog is None:
            return CoursePage(
                [], [], False, CatalogFilter((CourseStatus.PUBLISHED,), None, None, False)
            )
        cursor = CourseCursor.decode(after, catalog.key) if after else None

        if catalog.search is not None:
            return await self._search_page(catalog, first, cursor, counts)
        statement = _listing_page(_shape(catalog), counts, total, cursor is not None)
        parameters = _listing_params(catalog) | {"limit": first + 1}
        if cursor is not None:
            parameters |= {"after_created_at": cursor.created_at, "after_id": cursor.id}
        rows = await self._db.rows(statement, parameters)
        page = [_counted(row) for row in rows[:first]]
        cursors = [
            CourseCursor(created_at=c.created_at, id=c.id).encode(catalog.key) for c, _ in page
        ]
        # Past the last course no row carries the total; count() then asks for it.
        listing = replace(catalog, total=int(rows[0][-1])) if total and rows else catalog
        return CoursePage(
            [c for c, _ in page], cursors, len(rows) > first, listing, [n for _, n in page]
        )

    async def _search_page(
        self,
        catalog: CatalogFilter,
        first: int,
        cursor: CourseCursor | None,
        counts: WithCounts,
    ) -> CoursePage:
        """One statement (`_search_statement`)."""
        parameters = {**_search_parameters(catalog), "limit": first + 1}
        if cursor is not None:
            parameters.update(
                after_rank=cursor.rank, after_created_at=cursor.created_at, after_id=cursor.id
            )
        rows = await self._db.rows(_search_statement(counts, cursor is not None), parameters)
        page = [(*_counted(row), row[-2]) for row in rows[:first]]
        cursors = [
            CourseCursor(created_at=course.created_at, id=course.id, rank=float(rank)).encode(
                catalog.key
            )
            for course, _, rank in page
        ]
        # Past the last candidate no row carries the total; count() then asks for it.
        total = int(rows[0][-1]) if rows else None
        listing = replace(catalog, total=total)
        return CoursePage(
            [c for c, _, _ in page], cursors, len(rows) > first, listing, [n for _, n, _ in page]
        )

    async def count(self, catalog: CatalogFilter) -> int:
        """Exact, and never a scan of the whole catalog: the whole catalog's counts are
        kept in `course_counts`; a teacher's listing counts along the teacher's index; a
        search counts its candidates (at most SEARCH_CANDIDATES), usually along with its
        page."""
        if catalog.total is not None:
            return catalog.total
        if catalog.search is not None:
            rows = await self._db.rows(_SEARCH_COUNT, _search_parameters(catalog))
        else:
            rows = await self._db.rows(_listing_count(_shape(catalog)), _listing_params(catalog))
        return int(rows[0][0] or 0)

    @staticmethod
    def _filter(
        viewer: Viewer | None, search: str | None, teacher_id: str | None, free_only: bool
    ) -> CatalogFilter | None:
        """The listing's filters; None when it is empty by construction (unknown teacher)."""
        text = " ".join((search or "").split()) or None
        if text is not None and len(text) > MAX_SEARCH_LENGTH:
            raise BadUserInput(
                f"Search for at most {MAX_SEARCH_LENGTH} characters.", field="search"
            )
        teacher: uuid.UUID | None = None
        statuses: tuple[CourseStatus, ...] = (CourseStatus.PUBLISHED,)
        if teacher_id is not None:
            teacher = parse_uuid(teacher_id)
            if teacher is None:
                return None
            if lists_everything_of(viewer, teacher):
                statuses = tuple(CourseStatus)
        return CatalogFilter(statuses, text, teacher, free_only)

    # ------------------------------------------------------------------ batched reads
    async def get(self, course_id: str) -> CourseRow | None:
        return (await self.get_many([course_id]))[0]

    async def get_many(self, course_ids: Sequence[str]) -> list[CourseRow | None]:
        found = await rows_grouped_by_key(self._db, _COURSES, Course.id, course_ids, _course, _id)
        return [rows[0] if rows else None for rows in found]

    async def get_many_counted(
        self, course_ids: Sequence[str], counts: WithCounts
    ) -> list[tuple[CourseRow, Counts] | None]:
        """`get_many`, with the `counts` of each course read by the same statement."""
        found = await rows_grouped_by_key(
            self._db, _counted_courses(counts), Course.id, course_ids, _counted, _id_of
        )
        return [rows[0] if rows else None for rows in found]

    async def get_by_slug(
        self, slug: str, counts: WithCounts = WithCounts()
    ) -> tuple[CourseRow, Counts] | None:
        rows = await self._db.rows(_by_slug(counts), {"slug": slug})
        return _counted(rows[0]) if rows else None

    async def visible(self, viewer: Viewer | None, course_id: str) -> CourseRow | None:
        course = await self.get(course_id)
        return course if course is not None and can_view(course, viewer) else None

    def check_page_size(self, first: int) -> int:
        """`first` of a list field, refused beyond the largest page (BAD_USER_INPUT)."""
        if not 1 <= first <= self._max_page_size:
            raise BadUserInput(
                f"`first` must be between 1 and {self._max_page_size}.", field="first"
            )
        return first

    async def taught_by(self, keys: Sequence[TaughtKey]) -> list[list[CourseRow]]:
        """For each (teacher id, with unpublished ones, at most n): that teacher's courses,
        newest first — PUBLISHED only unless unpublished ones are asked for. The limit is
        applied per teacher in SQL, so a prolific teacher costs `n` rows, not all of hers."""
        ids = {p for teacher, _, _ in keys if (p := parse_uuid(teacher))}
        grouped: dict[uuid.UUID, list[CourseRow]] = defaultdict(list)
        if ids:
            everything = {p for t, drafts, _ in keys if drafts and (p := parse_uuid(t))}
            limit = max(n for _, _, n in keys)
            rank = (
                func.row_number()
                .over(
                    partition_by=Course.teacher_id,
                    order_by=(Course.created_at.desc(), Course.id.desc()),
                )
                .label("rank")
            )
            visible = Course.status == CourseStatus.PUBLISHED
            if everything:
                visible = visible | Course.teacher_id.in_(everything)
            ranked = (
                select(Course.id.label("id"), rank)
                .where(Course.teacher_id.in_(ids), visible)
                .subquery()
            )
            rows = await self._db.rows(
                select(*COURSE_COLUMNS)
                .join_from(Course, ranked, ranked.c.id == Course.id)
                .where(ranked.c.rank <= limit)
                .order_by(Course.teacher_id, ranked.c.rank)
            )
            for row in rows:
                course = CourseRow(*row)
                grouped[course.teacher_id].append(course)
        out: list[list[CourseRow]] = []
        for teacher, drafts, n in keys:
            found = grouped.get(p, []) if (p := parse_uuid(teacher)) else []
            out.append([c for c in found if drafts or c.status == CourseStatus.PUBLISHED][:n])
        return out

    async def sections_of(self, course_ids: Sequence[str]) -> list[list[SectionRow]]:
        return await rows_grouped_by_key(
            self._db, _SECTIONS, Section.course_id, course_ids, _section, _course_id
        )

    async def lectures_of(self, section_ids: Sequence[str]) -> list[list[LectureRow]]:
        return await rows_grouped_by_key(
            self._db, _LECTURES, Lecture.section_id, section_ids, _lecture, _section_id
        )

    async def curricula(self, course_ids: Sequence[str]) -> list[Curriculum]:
        """Each course's sections with their lectures: one statement for both levels."""
        found = await rows_grouped_by_key(
            self._db, _CURRICULA, Section.course_id, course_ids, _section_lecture, _pair_course_id
        )
        return [_by_section(pairs) for pairs in found]

    async def lectures(self, lecture_ids: Sequence[str]) -> list[Lecture | None]:
        return await load_by_key(self._db, _LECTURE_OBJECTS, Lecture.id, lecture_ids)

    async def lectures_by_videos(self, file_ids: Sequence[str]) -> list[Lecture | None]:
        """The lecture whose video each file is, if any."""
        return await load_by_key(
            self._db, _LECTURE_OBJECTS, Lecture.video_file_id, file_ids, parse=str
        )

    async def lecture_counts(self, course_ids: Sequence[str]) -> list[int]:
        return await count_by_key(self._db, Lecture.course_id, course_ids)


# The batched reads' statements, built once (coursegraph/batch.py: keyed once, and
# SQLAlchemy's cache key of each computed once).
_COURSES = select(*COURSE_COLUMNS)
_SECTIONS = select(*SECTION_COLUMNS).order_by(Section.course_id, Section.position)
_LECTURES = select(*LECTURE_COLUMNS).order_by(Lecture.section_id, Lecture.position)
_CURRICULA = (
    select(*SECTION_COLUMNS, *LECTURE_COLUMNS)
    .outerjoin_from(Section, Lecture, Lecture.section_id == Section.id)
    .order_by(Section.course_id, Section.position, Lecture.position)
)
_LECTURE_OBJECTS = select(Lecture)
# A listing's filters but its values (bound at execution): (statuses, by teacher, free only).
_Shape = tuple[tuple[CourseStatus, ...], bool, bool]


@cache
def _counted_courses(counts: WithCounts) -> Select[Any]:
    return select(*COURSE_COLUMNS, *counts.columns())


@cache
def _by_slug(counts: WithCounts) -> Select[Any]:
    return _counted_courses(counts).where(Course.slug == bindparam("slug"))


def _shape(catalog: CatalogFilter) -> _Shape:
    return catalog.statuses, catalog.teacher_id is not None, catalog.free_only


def _listing_params(catalog: CatalogFilter) -> dict[str, Any]:
    """The values of `_listing_where`'s parameters for `catalog`."""
    return {} if catalog.teacher_id is None else {"teacher_id": catalog.teacher_id}


def _listing_where(shape: _Shape) -> list[ColumnElement[bool]]:
    """A listing's conditions (no search): the teacher's id bound at execution."""
    statuses, by_teacher, free_only = shape
    where = [_one_of(Course.status, statuses)]
    if by_teacher:
        where.append(Course.teacher_id == bindparam("teacher_id"))
    if free_only:
        where.append(Course.price_amount_minor.is_(None))
    return where


@lru_cache(maxsize=64)
def _listing_count(shape: _Shape) -> Select[Any]:
    """The count of a listing (no search): the whole catalog's counts are kept in
    `course_counts`; a teacher's listing counts along the teacher's index."""
    statuses, by_teacher, free_only = shape
    if by_teacher:
        return select(func.count()).select_from(Course).where(*_listing_where(shape))
    statement = select(func.coalesce(func.sum(CourseCount.courses), 0)).where(
        _one_of(CourseCount.status, statuses)
    )
    return statement.where(CourseCount.is_free) if free_only else statement


@lru_cache(maxsize=256)
def _listing_page(shape: _Shape, counts: WithCounts, total: bool, after: bool) -> Select[Any]:
    """A page of a listing (no search), newest first, with its courses' `counts` and
    (`total`) the listing's count; `after`: from a cursor (`after_created_at`, `after_id`),
    the page's size plus one bound as `limit`."""
    # The listing's count is an uncorrelated subquery: PostgreSQL runs it once.
    counted = _listing_count(shape).correlate(None).scalar_subquery()
    statement = select(*COURSE_COLUMNS, *counts.columns(), counted if total else null()).where(
        *_listing_where(shape)
    )
    if after:
        bound = tuple_(
            bindparam("after_created_at", type_=Course.created_at.type),
            bindparam("after_id", type_=Course.id.type),
        )
        statement = statement.where(tuple_(Course.created_at, Course.id) < bound)
    return statement.order_by(Course.created_at.desc(), Course.id.desc()).limit(
        bindparam("limit", type_=Integer)
    )


def _course(row: Sequence[Any]) -> CourseRow:
    return CourseRow(*row)


def _section(row: Sequence[Any]) -> SectionRow:
    return SectionRow(*row)


def _lecture(row: Sequence[Any]) -> LectureRow:
    return LectureRow(*row)


def _section_lecture(row: Sequence[Any]) -> tuple[SectionRow, LectureRow | None]:
    """A row of SECTION_COLUMNS and LECTURE_COLUMNS; the lecture's are NULL for a section
    without lectures (the outer join)."""
    width = len(SECTION_COLUMNS)
    lecture = LectureRow(*row[width:]) if row[width] is not None else None
    return SectionRow(*row[:width]), lecture


def _by_section(pairs: list[tuple[SectionRow, LectureRow | None]]) -> Curriculum:
    """Consecutive rows of one section (the statement's order) become one entry."""
    out: Curriculum = []
    for section, lecture in pairs:
        if not out or out[-1][0].id != section.id:
            out.append((section, []))
        if lecture is not None:
            out[-1][1].append(lecture)
    return out


def _id(course: CourseRow) -> uuid.UUID:
    return course.id


def _id_of(counted: tuple[CourseRow, Counts]) -> uuid.UUID:
    return counted[0].id


def _course_id(section: SectionRow) -> uuid.UUID:
    return section.course_id


def _section_id(lecture: LectureRow) -> uuid.UUID:
    return lecture.section_id


def _pair_course_id(pair: tuple[SectionRow, LectureRow | None]) -> uuid.UUID:
    return pair[0].course_id


def _one_of(column: InstrumentedAttribute[str], statuses: Sequence[str]) -> ColumnElement[bool]:
    """`status = $1` for the usual one status: a constant statement, where an IN list is
    rendered again for every execution."""
    return column == statuses[0] if len(statuses) == 1 else column.in_(statuses)


def _permutation(items: list[_Item], wanted_ids: Sequence[str], field: str) -> list[_Item]:
    """`items` in the order of `wanted_ids`, which must name each of them exactly once."""
    by_id = {str(item.id): item for item in items}
    wanted = [str(parse_uuid(i) or i) for i in wanted_ids]
    if len(wanted) != len(set(wanted)) or set(wanted) != set(by_id):
        raise BadUserInput(f"`{field}` must list every item exactly once.", field=field)
    return [by_id[i] for i in wanted]


def _renumber(ordered: Sequence[Section | Lecture]) -> None:
    # Flushed as one batch at commit; the unique (parent, position) constraint is
    # deferred, so positions may collide until then.
    for n, item in enumerate(ordered, 1):
        item.position = n
