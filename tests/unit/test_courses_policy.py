"""Who may see, change and watch a course (subgraphs/courses/policy.py), and who acts for
whom (`Viewer`): pure functions of a course and a viewer."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coursegraph.errors import Conflict, Forbidden, NotFound, Unauthenticated
from coursegraph.identity import ROLES, Viewer
from coursegraph.ids import parse_uuid as parse_id
from subgraphs.courses.models import Course, CourseStatus, Enrollment, Lecture
from subgraphs.courses.policy import (
    can_view,
    can_watch,
    is_owner_or_admin,
    require_author,
    require_editable,
    require_manage,
)

COURSE_STATUSES = tuple(CourseStatus)
TEACHER = uuid.uuid4()


def _course(status: str, teacher: uuid.UUID = TEACHER) -> Course:
    return Course(id=uuid.uuid4(), status=status, teacher_id=teacher)


def _viewer(who: str) -> Viewer | None:
    """Who looks: "anonymous", "owner" (the course's teacher), or a user of role `who`."""
    if who == "anonymous":
        return None
    if who == "owner":
        return Viewer(str(TEACHER), "TEACHER")
    return Viewer(str(uuid.uuid4()), who)


VIEWERS = ["anonymous", "owner", *ROLES]
viewers = st.sampled_from(VIEWERS).map(_viewer)
courses = st.builds(_course, st.sampled_from(COURSE_STATUSES))


@pytest.mark.parametrize("who", VIEWERS)
@pytest.mark.parametrize("status", COURSE_STATUSES)
def test_drafts_are_seen_by_their_teacher_and_admins_only(status: str, who: str) -> None:
    expected = status != "DRAFT" or who in ("owner", "ADMIN")
    assert can_view(_course(status), _viewer(who)) is expected


@pytest.mark.parametrize(
    ("who", "refusal"),
    [("anonymous", Unauthenticated), ("STUDENT", Forbidden), ("TEACHER", None), ("ADMIN", None)],
)
def test_only_teachers_and_admins_author(who: str, refusal: type[Exception] | None) -> None:
    viewer = _viewer(who)
    if refusal is None:
        assert require_author(viewer) is viewer
    else:
        with pytest.raises(refusal):
            require_author(viewer)


@pytest.mark.parametrize(
    ("status", "who", "outcome"),
    [
        ("DRAFT", "owner", None),
        ("DRAFT", "ADMIN", None),
        ("PUBLISHED", "owner", None),
        ("ARCHIVED", "ADMIN", None),
        # Another teacher's draft does not exist for them; a published one is not theirs.
        ("DRAFT", "TEACHER", NotFound),
        ("PUBLISHED", "TEACHER", Forbidden),
        ("ARCHIVED", "TEACHER", Forbidden),
        ("PUBLISHED", "STUDENT", Forbidden),
        ("PUBLISHED", "anonymous", Unauthenticated),
    ],
)
def test_who_manages_a_course(status: str, who: str, outcome: type[Exception] | None) -> None:
    course = _course(status)
    if outcome is None:
        assert require_manage(course, _viewer(who)) is course
    else:
        with pytest.raises(outcome):
            require_manage(course, _viewer(who))


def test_a_missing_course_is_not_found_for_authors() -> None:
    with pytest.raises(NotFound):
        require_manage(None, _viewer("ADMIN"))


@pytest.mark.parametrize("status", COURSE_STATUSES)
def test_archived_courses_are_frozen(status: str) -> None:
    course = _course(status)
    if status == "ARCHIVED":
        with pytest.raises(Conflict):
            require_editable(course)
    else:
        assert require_editable(course) is course


@given(courses, viewers)
def test_the_teacher_and_admins_manage_a_course(course: Course, viewer: Viewer | None) -> None:
    try:
        require_manage(course, viewer)
    except (Unauthenticated, Forbidden, NotFound):
        managed = False
    else:
        managed = True
        assert can_view(course, viewer)
    assert managed is is_owner_or_admin(course, viewer)


def _lecture(preview: bool) -> Lecture:
    return Lecture(id=uuid.uuid4(), is_preview=preview)


def _seat(viewer: Viewer | None, course: Course) -> Enrollment:
    user = uuid.UUID(viewer.id) if viewer else uuid.uuid4()
    return Enrollment(id=uuid.uuid4(), user_id=user, course_id=course.id, status="ACTIVE")


@given(courses, viewers, st.booleans(), st.booleans())
def test_who_may_watch_a_lecture(
    course: Course, viewer: Viewer | None, preview: bool, enrolled: bool
) -> None:
    seat = _seat(viewer, course) if enrolled else None
    watch = can_watch(_lecture(preview), course, seat, viewer)
    if not can_view(course, viewer):
        assert not watch
    else:
        assert watch is (preview or enrolled or is_owner_or_admin(course, viewer))


@given(viewers, st.booleans(), st.booleans())
def test_no_course_no_watching(viewer: Viewer | None, preview: bool, enrolled: bool) -> None:
    seat = _seat(viewer, _course("PUBLISHED")) if enrolled else None
    assert not can_watch(_lecture(preview), None, seat, viewer)


@given(st.sampled_from(ROLES), st.uuids(), st.uuids())
def test_a_viewer_acts_for_themselves_unless_admin(
    role: str, own: uuid.UUID, other: uuid.UUID
) -> None:
    viewer = Viewer(str(own), role)
    assert viewer.is_self_or_admin(own)
    assert viewer.is_self_or_admin(str(own))
    assert viewer.is_self_or_admin(other) is (role == "ADMIN" or other == own)


@given(st.uuids())
def test_ids_are_uuids_in_any_spelling(value: uuid.UUID) -> None:
    assert parse_id(str(value)) == value
    assert parse_id(str(value).upper()) == value
    assert parse_id(value.hex) == value


@pytest.mark.parametrize("value", ["", "1", "not-a-uuid", "00000000-0000-0000-0000", None, 12])
def test_anything_else_is_no_id(value: object) -> None:
    assert parse_id(value) is None
