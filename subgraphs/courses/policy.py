"""Who may see and change what: pure functions of a course and a viewer, no I/O."""

from __future__ import annotations

import uuid

from coursegraph.errors import Conflict, Forbidden, NotFound, Unauthenticated
from coursegraph.identity import Viewer
from subgraphs.courses.models import Course, Enrollment, Lecture

AUTHOR_ROLES = ("TEACHER", "ADMIN")


def parse_id(value: object) -> uuid.UUID | None:
    """A UUID from an ID argument, or None for anything else (looked up as absent)."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def is_owner_or_admin(course: Course, viewer: Viewer | None) -> bool:
    return viewer is not None and (viewer.is_admin or viewer.id == str(course.teacher_id))


def can_view(course: Course, viewer: Viewer | None) -> bool:
    """Drafts only for their teacher and ADMIN; published and archived for everyone."""
    return course.status != "DRAFT" or is_owner_or_admin(course, viewer)


def require_author(viewer: Viewer | None) -> Viewer:
    if viewer is None:
        raise Unauthenticated("You must be signed in.")
    if viewer.role not in AUTHOR_ROLES:
        raise Forbidden("Only teachers and admins can create and edit courses.")
    return viewer


def require_manage(course: Course | None, viewer: Viewer | None) -> Course:
    """The course, if `viewer` may change it; NOT_FOUND where it may not even see it."""
    author = require_author(viewer)
    if course is None or not can_view(course, author):
        raise NotFound("No such course.")
    if not is_owner_or_admin(course, author):
        raise Forbidden("Only the course's teacher or an admin can change it.")
    return course


def require_editable(course: Course) -> Course:
    if course.status == "ARCHIVED":
        raise Conflict("An archived course cannot be changed.")
    return course


def can_watch(
    lecture: Lecture,
    course: Course | None,
    seat: Enrollment | None,
    viewer: Viewer | None,
) -> bool:
    """May `viewer` play the lecture's video? `seat`: their ACTIVE/COMPLETED enrollment."""
    if course is None or not can_view(course, viewer):
        return False
    return lecture.is_preview or is_owner_or_admin(course, viewer) or seat is not None
