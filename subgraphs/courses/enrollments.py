"""Enrollments, progress and certificates, and the enrollment side of paid courses.

No GraphQL and no HTTP here (other services are reached through `clients.py`); every
public method owns its transaction. Seats are guarded by the partial unique index
`uq_enrollments_current` and paid seats by `uq_enrollments_payment_id`: inserts use
`ON CONFLICT DO NOTHING`, so concurrent calls cannot make a second row.
"""

from __future__ import annotations

import base64
import math
import secrets
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, case, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from coursegraph import outbox
from coursegraph.db import Database
from coursegraph.errors import BadUserInput, Conflict, Forbidden, NotFound
from coursegraph.identity import Viewer
from coursegraph.money import Money
from subgraphs.courses.clients import PaymentsClient, UsersClient
from subgraphs.courses.models import CURRENT_STATUSES, Certificate, Course, Enrollment
from subgraphs.courses.models import outbox as outbox_table
from subgraphs.courses.policy import can_view, is_owner_or_admin, parse_id
from subgraphs.courses.service import course_price

PAYMENT_PROVIDERS = ("STRIPE", "RAZORPAY", "SANDBOX")
CODE_BYTES = 15  # 120 random bits: a code cannot be guessed, only verified


@dataclass(frozen=True, slots=True)
class PaymentRequired:
    """What `enroll` answers for a paid course; payments owns the payment."""

    course: Course
    price: Money
    payment_id: str | None


@dataclass(frozen=True, slots=True)
class Progress:
    """An account's standing in a course, for refund proration."""

    enrollment: Enrollment | None
    certificate_issued: bool


def new_certificate_code() -> str:
    """`XXXX-XXXX-…`: base32 (A-Z and 2-7, so no 0 or 1 to mistake), grouped for reading."""
    raw = base64.b32encode(secrets.token_bytes(CODE_BYTES)).decode()
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def normalise_code(code: str) -> str:
    """Accept a code as people type it: any case, with or without separators."""
    compact = "".join(ch for ch in code.upper() if ch.isalnum())
    return "-".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def _enrollment_event(enrollment: Enrollment) -> dict[str, Any]:
    return {
        "enrollmentId": str(enrollment.id),
        "userId": str(enrollment.user_id),
        "courseId": str(enrollment.course_id),
        "paymentId": enrollment.payment_id,
        "status": enrollment.status,
    }


class EnrollmentService:
    def __init__(
        self,
        database: Database,
        users: UsersClient,
        payments: PaymentsClient,
        on_event: Callable[[], None] = lambda: None,
    ) -> None:
        self._db = database
        self._users = users
        self._payments = payments
        # Called after a commit that wrote outbox rows (wakes the relay).
        self._on_event = on_event

    # ------------------------------------------------------------------ enrolling
    async def enroll(
        self,
        viewer: Viewer,
        course_id: str,
        provider: str | None,
        *,
        forward_headers: Mapping[str, str] | None = None,
    ) -> Enrollment | PaymentRequired:
        """Free course: an ACTIVE enrollment. Paid: what to pay, with a payment if asked."""
        if provider is not None and provider not in PAYMENT_PROVIDERS:
            raise BadUserInput(f"Unknown payment provider {provider!r}.", field="provider")
        parsed = parse_id(course_id)
        async with self._db.read() as session:
            course = await session.get(Course, parsed) if parsed else None
        if course is None or course.status == "DRAFT" or not can_view(course, viewer):
            raise NotFound("No such course is open for enrollment.")
        if course.status == "ARCHIVED":
            raise Conflict("This course no longer accepts enrollments.")
        price = course_price(course)
        user_id = uuid.UUID(viewer.id)

        if price is None:
            async with self._db.transaction() as session:
                enrollment = await self._insert(session, user_id, course.id, None)
                if enrollment is None:
                    raise Conflict("You are already enrolled in this course.")
            self._on_event()
            return enrollment

        # Paid: the seat is created by completePaidEnrollment once payments has the money.
        # This read only turns a pointless checkout into a clear answer.
        if await self._current(user_id, course.id) is not None:
            raise Conflict("You are already enrolled in this course.")
        payment_id = None
        if provider is not None:
            # No transaction is open here: nothing of ours is half-written if this fails.
            payment_id = await self._payments.prepare_payment(
                viewer.id, str(course.id), provider, headers=forward_headers
            )
        return PaymentRequired(course=course, price=price, payment_id=payment_id)

    async def _insert(
        self,
        session: AsyncSession,
        user_id: uuid.UUID,
        course_id: uuid.UUID,
        payment_id: str | None,
    ) -> Enrollment | None:
        """A new ACTIVE enrollment, or None when a unique index already holds the seat."""
        enrollment: Enrollment | None = await session.scalar(
            insert(Enrollment)
            .values(
                id=uuid.uuid4(),
                user_id=user_id,
                course_id=course_id,
                status="ACTIVE",
                payment_id=payment_id,
            )
            .on_conflict_do_nothing()
            .returning(Enrollment)
        )
        if enrollment is not None:
            await self._event(session, "enrollment.created", enrollment)
        return enrollment

    async def _event(self, session: AsyncSession, topic: str, enrollment: Enrollment) -> None:
        await outbox.add(
            session,
            outbox_table,
            topic,
            _enrollment_event(enrollment),
            dedupe_key=f"{topic}:{enrollment.id}",
        )

    async def _current(self, user_id: uuid.UUID, course_id: uuid.UUID) -> Enrollment | None:
        async with self._db.read() as session:
            return await session.scalar(_current_query(user_id, course_id))

    # ------------------------------------------------------------------ progress
    async def update_progress(
        self, viewer: Viewer, course_id: str, progress_percentage: float, total_watch_time: int
    ) -> Enrollment:
        """Keep the highest progress and watch time seen; reaching 100 completes."""
        if not math.isfinite(progress_percentage) or not 0 <= progress_percentage <= 100:
            raise BadUserInput("Progress must be between 0 and 100.", field="progressPercentage")
        if total_watch_time < 0:
            raise BadUserInput("Watch time must not be negative.", field="totalWatchTime")
        parsed = parse_id(course_id)
        if parsed is None:
            raise NotFound("You are not enrolled in this course.")
        progress = func.greatest(Enrollment.progress_percentage, progress_percentage)
        completes = progress >= 100
        # One UPDATE: concurrent reports cannot lower each other's values.
        statement = (
            update(Enrollment)
            .where(
                Enrollment.user_id == uuid.UUID(viewer.id),
                Enrollment.course_id == parsed,
                Enrollment.status.in_(CURRENT_STATUSES),
            )
            .values(
                progress_percentage=progress,
                total_watch_time=func.greatest(Enrollment.total_watch_time, total_watch_time),
                status=case((completes, "COMPLETED"), else_=Enrollment.status),
                completed_at=case(
                    (and_(completes, Enrollment.completed_at.is_(None)), func.now()),
                    else_=Enrollment.completed_at,
                ),
            )
            .returning(Enrollment)
            .execution_options(synchronize_session=False)
        )
        async with self._db.transaction() as session:
            enrollment = await session.scalar(statement)
            if enrollment is None:
                raise NotFound("You are not enrolled in this course.")
            if enrollment.status == "COMPLETED":
                # Deduplicated by key: only the first completion is announced.
                await self._event(session, "enrollment.completed", enrollment)
        self._on_event()
        return enrollment

    # ------------------------------------------------------------------ certificates
    async def issue_certificate(self, viewer: Viewer, enrollment_id: str) -> Certificate:
        """The enrollment's certificate; made on first call, the same one after."""
        parsed = parse_id(enrollment_id)
        async with self._db.read() as session:
            enrollment = await session.get(Enrollment, parsed) if parsed else None
            if enrollment is None or not viewer.is_self_or_admin(enrollment.user_id):
                raise NotFound("No such enrollment.")
            existing = await session.scalar(
                select(Certificate).where(Certificate.enrollment_id == enrollment.id)
            )
            course = await session.get(Course, enrollment.course_id)
        if existing is not None:
            return existing
        if enrollment.status != "COMPLETED":
            raise Conflict("A certificate is issued only once the course is completed.")
        assert course is not None
        account = await self._users.account(str(enrollment.user_id))
        if account is None:
            raise NotFound("The student's account no longer exists.")
        async with self._db.transaction() as session:
            created = await session.scalar(
                insert(Certificate)
                .values(
                    id=uuid.uuid4(),
                    enrollment_id=enrollment.id,
                    code=new_certificate_code(),
                    student_name=account.name,
                    course_title=course.title,
                )
                .on_conflict_do_nothing(index_elements=[Certificate.enrollment_id])
                .returning(Certificate)
            )
            if created is None:
                # A concurrent call issued it first: the same certificate for both.
                certificate = await session.scalar(
                    select(Certificate).where(Certificate.enrollment_id == enrollment.id)
                )
                assert certificate is not None
                return certificate
            await outbox.add(
                session,
                outbox_table,
                "certificate.issued",
                {
                    "certificateId": str(created.id),
                    "enrollmentId": str(enrollment.id),
                    "userId": str(enrollment.user_id),
                    "courseId": str(enrollment.course_id),
                },
                dedupe_key=f"certificate.issued:{created.id}",
            )
        self._on_event()
        return created

    async def verify_certificate(self, code: str) -> Certificate | None:
        async with self._db.read() as session:
            certificate: Certificate | None = await session.scalar(
                select(Certificate).where(Certificate.code == normalise_code(code))
            )
            return certificate

    # ------------------------------------------------------------------ for payments
    async def complete_paid(self, user_id: str, course_id: str, payment_id: str) -> Enrollment:
        """The enrollment a succeeded payment paid for; idempotent on `payment_id`.

        When the account already holds a seat (say from a concurrent payment or a free
        period), that enrollment is returned: never two seats for one account.
        """
        user = parse_id(user_id)
        course_key = parse_id(course_id)
        if user is None or course_key is None or not payment_id.strip():
            raise BadUserInput("userId, courseId and paymentId must be valid ids.")
        async with self._db.transaction() as session:
            if await session.get(Course, course_key) is None:
                raise NotFound("No such course.")
            # A row only disappears from a conflict if it is dropped meanwhile: try again.
            for _ in range(3):
                enrollment = await self._insert(session, user, course_key, payment_id)
                if enrollment is not None:
                    break
                enrollment = await session.scalar(
                    select(Enrollment).where(Enrollment.payment_id == payment_id)
                )
                if enrollment is not None:
                    if (enrollment.user_id, enrollment.course_id) != (user, course_key):
                        raise Conflict("This payment completed a different enrollment.")
                    break
                enrollment = await session.scalar(_current_query(user, course_key))
                if enrollment is not None:
                    break
            else:
                raise Conflict("The enrollment changed concurrently; try again.")
        self._on_event()
        return enrollment

    async def drop_for_payment(self, payment_id: str) -> Enrollment | None:
        """Drop the enrollment a refunded payment paid for; idempotent. None if none."""
        async with self._db.transaction() as session:
            dropped = await session.scalar(
                update(Enrollment)
                .where(Enrollment.payment_id == payment_id, Enrollment.status != "DROPPED")
                .values(status="DROPPED", dropped_at=func.now())
                .returning(Enrollment)
                .execution_options(synchronize_session=False)
            )
            if dropped is not None:
                await self._event(session, "enrollment.dropped", dropped)
                enrollment: Enrollment | None = dropped
            else:
                enrollment = await session.scalar(
                    select(Enrollment).where(Enrollment.payment_id == payment_id)
                )
        self._on_event()
        return enrollment

    async def progress(self, user_id: str, course_id: str) -> Progress:
        user, course = parse_id(user_id), parse_id(course_id)
        if user is None or course is None:
            return Progress(None, False)
        async with self._db.read() as session:
            enrollment = await session.scalar(_current_query(user, course))
            issued = enrollment is not None and bool(
                await session.scalar(
                    select(
                        select(Certificate.id)
                        .where(Certificate.enrollment_id == enrollment.id)
                        .exists()
                    )
                )
            )
        return Progress(enrollment, issued)

    # ------------------------------------------------------------------ visibility
    @staticmethod
    def can_see(enrollment: Enrollment, course: Course | None, viewer: Viewer | None) -> bool:
        """The student, an admin, and the course's teacher may see an enrollment."""
        if viewer is None:
            return False
        if viewer.is_self_or_admin(enrollment.user_id):
            return True
        return course is not None and is_owner_or_admin(course, viewer)

    @staticmethod
    def require_self_or_admin(viewer: Viewer | None, user_id: str) -> Viewer:
        if viewer is None or not viewer.is_self_or_admin(user_id):
            raise Forbidden("Only this user or an admin can see their enrollments.")
        return viewer

    # ------------------------------------------------------------------ batched reads
    async def get_many(self, enrollment_ids: Sequence[str]) -> list[Enrollment | None]:
        ids = {p for i in enrollment_ids if (p := parse_id(i))}
        found: dict[uuid.UUID, Enrollment] = {}
        if ids:
            async with self._db.read() as session:
                rows = await session.scalars(select(Enrollment).where(Enrollment.id.in_(ids)))
                found = {e.id: e for e in rows}
        return [found.get(p) if (p := parse_id(i)) else None for i in enrollment_ids]

    async def by_payments(self, payment_ids: Sequence[str]) -> list[Enrollment | None]:
        found: dict[str, Enrollment] = {}
        if payment_ids:
            async with self._db.read() as session:
                rows = await session.scalars(
                    select(Enrollment).where(Enrollment.payment_id.in_(set(payment_ids)))
                )
                found = {str(e.payment_id): e for e in rows}
        return [found.get(i) for i in payment_ids]

    async def of_users(self, user_ids: Sequence[str]) -> list[list[Enrollment]]:
        """Every enrollment of each user (DROPPED too: they are history), newest first."""
        ids = {p for i in user_ids if (p := parse_id(i))}
        grouped: dict[uuid.UUID, list[Enrollment]] = defaultdict(list)
        if ids:
            async with self._db.read() as session:
                rows = await session.scalars(
                    select(Enrollment)
                    .where(Enrollment.user_id.in_(ids))
                    .order_by(Enrollment.enrolled_at.desc(), Enrollment.id.desc())
                )
                for enrollment in rows:
                    grouped[enrollment.user_id].append(enrollment)
        return [grouped.get(p, []) if (p := parse_id(i)) else [] for i in user_ids]

    async def current_of(self, keys: Sequence[tuple[str, str]]) -> list[Enrollment | None]:
        """The ACTIVE/COMPLETED enrollment for each (user id, course id), if any."""
        parsed = [(parse_id(u), parse_id(c)) for u, c in keys]
        pairs = {(u, c) for u, c in parsed if u is not None and c is not None}
        found: dict[tuple[uuid.UUID | None, uuid.UUID | None], Enrollment] = {}
        if pairs:
            users = {u for u, _ in pairs}
            courses = {c for _, c in pairs}
            async with self._db.read() as session:
                rows = await session.scalars(
                    select(Enrollment).where(
                        Enrollment.user_id.in_(users),
                        Enrollment.course_id.in_(courses),
                        Enrollment.status.in_(CURRENT_STATUSES),
                    )
                )
                found = {(e.user_id, e.course_id): e for e in rows}
        return [found.get(pair) for pair in parsed]

    async def counts(self, course_ids: Sequence[str]) -> list[int]:
        """ACTIVE + COMPLETED enrollments per course, counted, never cached: always exact."""
        ids = {p for i in course_ids if (p := parse_id(i))}
        counts: dict[uuid.UUID, int] = {}
        if ids:
            async with self._db.read() as session:
                rows = await session.execute(
                    select(Enrollment.course_id, func.count())
                    .where(Enrollment.course_id.in_(ids), Enrollment.status.in_(CURRENT_STATUSES))
                    .group_by(Enrollment.course_id)
                )
                counts = {course_id: int(n) for course_id, n in rows}
        return [counts.get(p, 0) if (p := parse_id(i)) else 0 for i in course_ids]

    async def certificates_of(self, enrollment_ids: Sequence[str]) -> list[Certificate | None]:
        ids = {p for i in enrollment_ids if (p := parse_id(i))}
        found: dict[uuid.UUID, Certificate] = {}
        if ids:
            async with self._db.read() as session:
                rows = await session.scalars(
                    select(Certificate).where(Certificate.enrollment_id.in_(ids))
                )
                found = {c.enrollment_id: c for c in rows}
        return [found.get(p) if (p := parse_id(i)) else None for i in enrollment_ids]


def _current_query(user_id: uuid.UUID, course_id: uuid.UUID) -> Select[Enrollment]:
    return select(Enrollment).where(
        Enrollment.user_id == user_id,
        Enrollment.course_id == course_id,
        Enrollment.status.in_(CURRENT_STATUSES),
    )
