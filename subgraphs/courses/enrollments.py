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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Float, Integer, Select, and_, bindparam, case, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events.courses import (
    CertificateIssued,
    EnrollmentCompleted,
    EnrollmentCreated,
    EnrollmentDropped,
)
from coursegraph import outbox
from coursegraph.batch import count_by_key, key_params, keys_in, load_by_key, rows_grouped_by_key
from coursegraph.db import Database
from coursegraph.errors import BadUserInput, Conflict, NotFound
from coursegraph.identity import Viewer
from coursegraph.ids import parse_uuid, require_uuid
from coursegraph.money import Money
from subgraphs.courses.clients import PaymentOrder, PaymentsClient, UsersClient
from subgraphs.courses.models import (
    CURRENT_STATUSES,
    CURRENT_WHERE,
    Certificate,
    Course,
    Enrollment,
    EnrollmentStatus,
    PaymentProvider,
)
from subgraphs.courses.models import outbox as outbox_table
from subgraphs.courses.policy import require_open_for_enrollment
from subgraphs.courses.rows import (
    CERTIFICATE_COLUMNS,
    ENROLLMENT_COLUMNS,
    AnyEnrollment,
    CertificateRow,
    EnrollmentRow,
)
from subgraphs.courses.service import course_price

CODE_BYTES = 15  # 120 random bits: a code cannot be guessed, only verified
FROZEN_MESSAGE = (
    "A refund of this enrollment is being processed: progress and certificates wait "
    "until it is settled."
)


@dataclass(frozen=True, slots=True)
class PaymentRequired:
    """What `enroll` answers for a paid course; payments owns the payment."""

    course: Course
    price: Money
    payment_id: str | None


@dataclass(frozen=True, slots=True)
class FrozenSeat:
    """A paid enrollment as `freeze_for_payment` left it, read under its row lock."""

    enrollment: Enrollment
    certificate_issued: bool


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


EnrollmentEvent = type[EnrollmentCreated] | type[EnrollmentCompleted] | type[EnrollmentDropped]


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
        if provider is not None and provider not in tuple(PaymentProvider):
            raise BadUserInput(f"Unknown payment provider {provider!r}.", field="provider")
        parsed = parse_uuid(course_id)
        async with self._db.read() as session:
            course = await session.get(Course, parsed) if parsed else None
        course = require_open_for_enrollment(course, viewer)
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
            # Courses states the price and the seat (free, just checked): payments calls
            # nobody back, so enroll is router → courses → payments and back.
            order = PaymentOrder(course.title, price, viewer_enrolled=False)
            payment_id = await self._payments.prepare_payment(
                viewer.id, str(course.id), provider, order, headers=forward_headers
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
                status=EnrollmentStatus.ACTIVE,
                payment_id=payment_id,
            )
            .on_conflict_do_nothing()
            .returning(Enrollment)
        )
        if enrollment is not None:
            await self._event(session, EnrollmentCreated, enrollment)
        return enrollment

    async def _event(
        self, session: AsyncSession, kind: EnrollmentEvent, enrollment: AnyEnrollment
    ) -> None:
        course = await session.get(Course, enrollment.course_id)
        assert course is not None  # enrollments reference their course
        event = kind(
            enrollmentId=str(enrollment.id),
            userId=str(enrollment.user_id),
            courseId=str(enrollment.course_id),
            courseTitle=course.title,
            paymentId=enrollment.payment_id,
            status=enrollment.status,
        )
        await outbox.add(session, outbox_table, event, dedupe_key=f"{kind.TOPIC}:{enrollment.id}")

    async def _current(self, user_id: uuid.UUID, course_id: uuid.UUID) -> Enrollment | None:
        async with self._db.read() as session:
            return await session.scalar(_current_query(user_id, course_id))

    # ------------------------------------------------------------------ progress
    async def update_progress(
        self, viewer: Viewer, course_id: str, progress_percentage: float, total_watch_time: int
    ) -> EnrollmentRow:
        """Keep the highest progress and watch time seen; reaching 100 completes."""
        if not math.isfinite(progress_percentage) or not 0 <= progress_percentage <= 100:
            raise BadUserInput("Progress must be between 0 and 100.", field="progressPercentage")
        if total_watch_time < 0:
            raise BadUserInput("Watch time must not be negative.", field="totalWatchTime")
        parsed = parse_uuid(course_id)
        if parsed is None:
            raise NotFound("You are not enrolled in this course.")
        user_id = uuid.UUID(viewer.id)
        values = {
            "user": user_id,
            "course": parsed,
            "progress": progress_percentage,
            "watch_time": total_watch_time,
        }
        if progress_percentage < 100:
            # Completes nothing (only a report of 100 completes, and a seat at 100 completed
            # with its event): the one statement commits alone, no transaction and no
            # outbox pass (most reports; the benchmark's mix, docs/benchmarks.md).
            rows = await self._db.returning(_UPDATE_PROGRESS, values)
            enrollment = EnrollmentRow(*rows[0]) if rows else None
        else:
            async with self._db.transaction() as session:
                row = (await session.execute(_UPDATE_PROGRESS, values)).first()
                enrollment = EnrollmentRow(*row) if row is not None else None
                if enrollment is not None and enrollment.status == EnrollmentStatus.COMPLETED:
                    # Deduplicated by key: only the first completion is announced.
                    await self._event(session, EnrollmentCompleted, enrollment)
            if enrollment is not None:
                self._on_event()
        if enrollment is None:
            current = await self._current(user_id, parsed)
            if current is not None and current.frozen_at is not None:
                raise Conflict(FROZEN_MESSAGE)
            raise NotFound("You are not enrolled in this course.")
        return enrollment

    # ------------------------------------------------------------------ certificates
    async def issue_certificate(self, viewer: Viewer, enrollment_id: str) -> Certificate:
        """The enrollment's certificate; made on first call, the same one after."""
        parsed = parse_uuid(enrollment_id)
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
        check_certifiable(enrollment)
        assert course is not None
        account = await self._users.account(str(enrollment.user_id))
        if account is None:
            raise NotFound("The student's account no longer exists.")
        async with self._db.transaction() as session:
            # Under the enrollment's lock: a refund freezing the seat waits for this
            # certificate (and sees it), or this call sees the freeze.
            locked = await _lock(session, enrollment.id)
            check_certifiable(locked)
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
            issued = CertificateIssued(
                certificateId=str(created.id),
                enrollmentId=str(enrollment.id),
                userId=str(enrollment.user_id),
                courseId=str(enrollment.course_id),
                courseTitle=created.course_title,
                verificationCode=created.code,
            )
            await outbox.add(
                session, outbox_table, issued, dedupe_key=f"certificate.issued:{created.id}"
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
        """The seat a succeeded payment paid for; idempotent on `payment_id`.

        State-based: whatever row this payment already has wins (ACTIVE, frozen by a
        refund, or DROPPED after one), so a completion that arrives after the refund's
        freeze or drop creates no seat. When the account already holds another seat, or
        the course became free (the seat is then made free), the payment gets a DROPPED
        row and that other seat is returned: payments refunds a charge that holds no
        seat (I1), and it can never take one later.
        """
        user, course_key = _parse_seat(user_id, course_id, payment_id)
        async with self._db.transaction() as session:
            course = await session.get(Course, course_key)
            if course is None:
                raise NotFound("No such course.")
            enrollment = await _of_payment(session, payment_id, lock=True)
            if enrollment is None:
                paid_for = payment_id if course_price(course) is not None else None
                enrollment = await self._insert(session, user, course_key, paid_for)
                if enrollment is None or paid_for is None:
                    own = await _dropped_row(session, user, course_key, payment_id)
                    # A concurrent completion of this payment may have made the seat.
                    current = await session.scalar(_current_query(user, course_key))
                    enrollment = own if own.status in CURRENT_STATUSES else current or own
            if (enrollment.user_id, enrollment.course_id) != (user, course_key):
                raise Conflict("This payment completed a different enrollment.")
        self._on_event()
        return enrollment

    async def freeze_for_payment(
        self, user_id: str, course_id: str, payment_id: str, *, allow_certificate: bool
    ) -> FrozenSeat:
        """Freeze the seat a payment paid for, before payments moves money back.

        Under the enrollment's row lock, so the progress returned is the one the refund
        is computed from: `updateProgress` and `issueCertificate` wait for the lock and
        then see the freeze. A payment with no row yet (its completion still on its way)
        gets one now: a frozen seat, or a DROPPED row when the account holds another
        seat, so a late completion finds it and creates nothing. With a certificate the
        seat is frozen only if `allow_certificate` (an ADMIN's refund).
        """
        user, course_key = _parse_seat(user_id, course_id, payment_id)
        async with self._db.transaction() as session:
            enrollment = await _of_payment(session, payment_id, lock=True)
            if enrollment is None:
                if await session.get(Course, course_key) is None:
                    raise NotFound("No such course.")
                # The completion has not arrived: make the seat it pays for (frozen below),
                # or, when another seat holds the course, a DROPPED row: this payment has none.
                enrollment = await self._insert(
                    session, user, course_key, payment_id
                ) or await _dropped_row(session, user, course_key, payment_id)
            assert enrollment is not None
            if (enrollment.user_id, enrollment.course_id) != (user, course_key):
                raise Conflict("This payment paid for a different enrollment.")
            certified = await _certificate_of(session, enrollment.id) is not None
            freeze_seat(enrollment, certified=certified, allow_certificate=allow_certificate)
            await session.flush()
        return FrozenSeat(enrollment, certified)

    async def unfreeze_for_payment(self, payment_id: str) -> Enrollment | None:
        """The refund did not happen: the seat goes on as before. Idempotent."""
        async with self._db.transaction() as session:
            enrollment = await _of_payment(session, payment_id, lock=True)
            if enrollment is not None and enrollment.frozen_at is not None:
                enrollment.frozen_at = None
                await session.flush()
        return enrollment

    async def drop_for_payment(
        self, payment_id: str, user_id: str | None = None, course_id: str | None = None
    ) -> Enrollment | None:
        """Drop the seat of a refunded payment and revoke its certificate; idempotent.

        State-based: with no row yet (the completion is late), a DROPPED row is written
        when the seat is named, so the completion that follows creates nothing.
        """
        async with self._db.transaction() as session:
            enrollment = await _of_payment(session, payment_id, lock=True)
            if enrollment is None and user_id is not None and course_id is not None:
                user, course_key = _parse_seat(user_id, course_id, payment_id)
                if await session.get(Course, course_key) is not None:
                    enrollment = await _dropped_row(session, user, course_key, payment_id)
            if enrollment is not None and drop_seat(enrollment):
                await session.flush()
                await self._event(session, EnrollmentDropped, enrollment)
            if enrollment is not None:
                await session.execute(
                    update(Certificate)
                    .where(
                        Certificate.enrollment_id == enrollment.id,
                        Certificate.revoked_at.is_(None),
                    )
                    .values(revoked_at=func.now())
                )
        self._on_event()
        return enrollment

    async def progress(self, user_id: str, course_id: str) -> Progress:
        user, course = parse_uuid(user_id), parse_uuid(course_id)
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

    # ------------------------------------------------------------------ batched reads
    async def get_many(self, enrollment_ids: Sequence[str]) -> list[Enrollment | None]:
        return await load_by_key(self._db, _ENROLLMENTS, Enrollment.id, enrollment_ids)

    async def by_payments(self, payment_ids: Sequence[str]) -> list[Enrollment | None]:
        return await load_by_key(
            self._db, _ENROLLMENTS, Enrollment.payment_id, payment_ids, parse=str
        )

    async def of_users(self, user_ids: Sequence[str]) -> list[list[EnrollmentRow]]:
        """Every enrollment of each user (DROPPED too: they are history), newest first."""
        return await rows_grouped_by_key(
            self._db, _NEWEST_FIRST, Enrollment.user_id, user_ids, _enrollment, _user_id
        )

    async def current_of(self, keys: Sequence[tuple[str, str]]) -> list[EnrollmentRow | None]:
        """The ACTIVE/COMPLETED enrollment for each (user id, course id), if any."""
        parsed = [(parse_uuid(u), parse_uuid(c)) for u, c in keys]
        pairs = {(u, c) for u, c in parsed if u is not None and c is not None}
        found: dict[tuple[uuid.UUID | None, uuid.UUID | None], EnrollmentRow] = {}
        if pairs:
            users = key_params({u for u, _ in pairs}, "users")
            courses = key_params({c for _, c in pairs}, "courses")
            rows = await self._db.rows(_CURRENT_OF, users | courses)
            seats = [EnrollmentRow(*row) for row in rows]
            found = {(e.user_id, e.course_id): e for e in seats}
        return [found.get(pair) for pair in parsed]

    async def counts(self, course_ids: Sequence[str]) -> list[int]:
        """ACTIVE + COMPLETED enrollments per course, counted, never cached: always exact."""
        # The partial index's own predicate, as constant SQL: the index answers alone.
        return await count_by_key(self._db, Enrollment.course_id, course_ids, CURRENT_WHERE)

    async def certificates_of(self, enrollment_ids: Sequence[str]) -> list[CertificateRow | None]:
        found = await rows_grouped_by_key(
            self._db,
            _CERTIFICATES,
            Certificate.enrollment_id,
            enrollment_ids,
            _certificate,
            _enrollment_id,
        )
        return [rows[0] if rows else None for rows in found]


# `update_progress`'s one UPDATE, built once (the values bound at execution): concurrent
# reports cannot lower each other's values; `frozen_at` is re-checked after a concurrent
# freeze releases the row lock. The seat's condition is the partial unique index's own
# predicate as constant SQL, so the index answers under a generic plan too.
_PROGRESS = func.greatest(Enrollment.progress_percentage, bindparam("progress", type_=Float))
_COMPLETES = _PROGRESS >= 100
_UPDATE_PROGRESS = (
    update(Enrollment)
    .where(
        Enrollment.user_id == bindparam("user"),
        Enrollment.course_id == bindparam("course"),
        CURRENT_WHERE,
        Enrollment.frozen_at.is_(None),
    )
    .values(
        progress_percentage=_PROGRESS,
        total_watch_time=func.greatest(
            Enrollment.total_watch_time, bindparam("watch_time", type_=Integer)
        ),
        status=case((_COMPLETES, EnrollmentStatus.COMPLETED.value), else_=Enrollment.status),
        completed_at=case(
            (and_(_COMPLETES, Enrollment.completed_at.is_(None)), func.now()),
            else_=Enrollment.completed_at,
        ),
    )
    .returning(*ENROLLMENT_COLUMNS)
    .execution_options(synchronize_session=False)
)

# The batched reads' statements, built once (coursegraph/batch.py: keyed once, and
# SQLAlchemy's cache key of each computed once).
_ENROLLMENTS = select(Enrollment)
_NEWEST_FIRST = select(*ENROLLMENT_COLUMNS).order_by(
    Enrollment.enrolled_at.desc(), Enrollment.id.desc()
)
_CERTIFICATES = select(*CERTIFICATE_COLUMNS)
# `current_of`'s read, built once: the keys bound at execution.
_CURRENT_OF = select(*ENROLLMENT_COLUMNS).where(
    keys_in(Enrollment.user_id, "users"), keys_in(Enrollment.course_id, "courses"), CURRENT_WHERE
)


def _enrollment(row: Sequence[Any]) -> EnrollmentRow:
    return EnrollmentRow(*row)


def _user_id(enrollment: EnrollmentRow) -> uuid.UUID:
    return enrollment.user_id


def _certificate(row: Sequence[Any]) -> CertificateRow:
    return CertificateRow(*row)


def _enrollment_id(certificate: CertificateRow) -> uuid.UUID:
    return certificate.enrollment_id


def _current_query(user_id: uuid.UUID, course_id: uuid.UUID) -> Select[Enrollment]:
    return select(Enrollment).where(
        Enrollment.user_id == user_id,
        Enrollment.course_id == course_id,
        Enrollment.status.in_(CURRENT_STATUSES),
    )


def _parse_seat(user_id: str, course_id: str, payment_id: str) -> tuple[uuid.UUID, uuid.UUID]:
    user, course = require_uuid(user_id, "userId"), require_uuid(course_id, "courseId")
    if not payment_id.strip():
        raise BadUserInput("`paymentId` must not be empty.", field="paymentId")
    return user, course


async def _of_payment(
    session: AsyncSession, payment_id: str, *, lock: bool = False
) -> Enrollment | None:
    query = select(Enrollment).where(Enrollment.payment_id == payment_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def _dropped_row(
    session: AsyncSession, user_id: uuid.UUID, course_id: uuid.UUID, payment_id: str
) -> Enrollment:
    """The payment's row as DROPPED (a seat it never held), or the one a concurrent call
    wrote first; locked either way."""
    await session.execute(
        insert(Enrollment)
        .values(
            id=uuid.uuid4(),
            user_id=user_id,
            course_id=course_id,
            status=EnrollmentStatus.DROPPED,
            payment_id=payment_id,
            dropped_at=func.now(),
        )
        .on_conflict_do_nothing(index_elements=[Enrollment.payment_id])
    )
    enrollment = await _of_payment(session, payment_id, lock=True)
    assert enrollment is not None
    return enrollment


async def _lock(session: AsyncSession, enrollment_id: uuid.UUID) -> Enrollment:
    enrollment = await session.get(
        Enrollment, enrollment_id, with_for_update=True, populate_existing=True
    )
    assert enrollment is not None
    return enrollment


async def _certificate_of(session: AsyncSession, enrollment_id: uuid.UUID) -> Certificate | None:
    certificate: Certificate | None = await session.scalar(
        select(Certificate).where(Certificate.enrollment_id == enrollment_id)
    )
    return certificate


# ------------------------------------------------------------------ status transitions
# Pure functions of the enrollment (tests/unit/test_enrollment_states.py); callers hold
# its row lock.
def freeze_seat(enrollment: Enrollment, *, certified: bool, allow_certificate: bool) -> None:
    """Freeze a held seat before money moves back; a certified one only if allowed."""
    holds_seat = enrollment.status in CURRENT_STATUSES
    if holds_seat and enrollment.frozen_at is None and (allow_certificate or not certified):
        enrollment.frozen_at = datetime.now(UTC)


def drop_seat(enrollment: Enrollment) -> bool:
    """The seat of a refunded payment ends; True when it was not dropped before."""
    if enrollment.status == EnrollmentStatus.DROPPED:
        return False
    enrollment.status = EnrollmentStatus.DROPPED
    enrollment.dropped_at = datetime.now(UTC)
    enrollment.frozen_at = None
    return True


def check_certifiable(enrollment: Enrollment) -> None:
    if enrollment.frozen_at is not None:
        raise Conflict(FROZEN_MESSAGE)
    if enrollment.status != EnrollmentStatus.COMPLETED:
        raise Conflict("A certificate is issued only once the course is completed.")
