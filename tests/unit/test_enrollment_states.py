"""Enrollment status transitions decided in Python (subgraphs/courses/enrollments.py): a
refund freezes the seat, settles by dropping it, and a certificate needs a completed,
unfrozen seat. (Completion at 100 % is one SQL UPDATE: tests/courses/test_progress.py.)"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coursegraph.errors import Conflict
from subgraphs.courses.enrollments import check_certifiable, drop_seat, freeze_seat
from subgraphs.courses.models import CURRENT_STATUSES, Enrollment, EnrollmentStatus

ENROLLMENT_STATUSES = tuple(EnrollmentStatus)

EARLIER = datetime(2026, 1, 1, tzinfo=UTC)


def _enrollment(status: str = "ACTIVE", frozen: bool = False) -> Enrollment:
    return Enrollment(
        id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        course_id=uuid.uuid4(),
        status=status,
        frozen_at=EARLIER if frozen else None,
        dropped_at=None,
    )


@pytest.mark.parametrize("status", ENROLLMENT_STATUSES)
@pytest.mark.parametrize("certified", [False, True])
@pytest.mark.parametrize("allow_certificate", [False, True])
def test_a_refund_freezes_a_held_seat(
    status: str, certified: bool, allow_certificate: bool
) -> None:
    seat = _enrollment(status)
    freeze_seat(seat, certified=certified, allow_certificate=allow_certificate)
    frozen = status in CURRENT_STATUSES and (allow_certificate or not certified)
    assert (seat.frozen_at is not None) is frozen
    assert seat.status == status


def test_a_frozen_seat_keeps_the_time_it_was_frozen() -> None:
    seat = _enrollment(frozen=True)
    freeze_seat(seat, certified=False, allow_certificate=True)
    assert seat.frozen_at == EARLIER


@pytest.mark.parametrize("status", ["ACTIVE", "COMPLETED"])
def test_a_settled_refund_drops_the_seat_once(status: str) -> None:
    seat = _enrollment(status, frozen=True)
    assert drop_seat(seat)
    assert (seat.status, seat.frozen_at) == ("DROPPED", None)
    dropped_at = seat.dropped_at
    assert dropped_at is not None
    assert not drop_seat(seat)  # the refund's event delivered again
    assert seat.dropped_at == dropped_at


@pytest.mark.parametrize(
    ("status", "frozen", "refusal"),
    [
        ("COMPLETED", False, None),
        ("COMPLETED", True, "refund"),
        ("ACTIVE", False, "only once the course is completed"),
        ("DROPPED", False, "only once the course is completed"),
    ],
)
def test_a_certificate_needs_a_completed_unfrozen_seat(
    status: str, frozen: bool, refusal: str | None
) -> None:
    seat = _enrollment(status, frozen)
    if refusal is None:
        check_certifiable(seat)
    else:
        with pytest.raises(Conflict, match=refusal):
            check_certifiable(seat)


@given(
    st.sampled_from(ENROLLMENT_STATUSES),
    st.lists(st.sampled_from(["freeze", "freeze-certified", "drop"]), max_size=8),
)
def test_a_dropped_seat_is_never_frozen_or_certified(status: str, steps: list[str]) -> None:
    seat = _enrollment(status)
    for step in steps:
        if step == "drop":
            drop_seat(seat)
        else:
            freeze_seat(seat, certified=step == "freeze-certified", allow_certificate=False)
    if seat.status == "DROPPED":
        assert seat.frozen_at is None
        with pytest.raises(Conflict):
            check_certifiable(seat)
    assert seat.status == ("DROPPED" if "drop" in steps else status)
