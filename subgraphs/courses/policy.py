"""Who may see and change what: pure functions of a course and a viewer, no I/O, and the
permission classes that guard fields with them.

Two visibilities, on purpose: a course looked up by id (or slug, or as an entity) is
hidden only while it is a DRAFT, so an ARCHIVED course stays readable for the students
who took it; listings (the catalog, `taughtCourses`) show PUBLISHED courses only, except a
teacher's own listing (and any listing an ADMIN reads), which shows all of them.
"""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from coursegraph.errors import Conflict, Forbidden, NotFound, Unauthenticated
from coursegraph.identity import Role, Viewer
from subgraphs.courses.models import Course, CourseStatus, Lecture
from subgraphs.courses.rows import AnyCourse, AnyEnrollment

AUTHOR_ROLES = (Role.TEACHER, Role.ADMIN)


def is_owner_or_admin(course: AnyCourse, viewer: Viewer | None) -> bool:
    return viewer is not None and (viewer.is_admin or viewer.id == str(course.teacher_id))


def can_view(course: AnyCourse, viewer: Viewer | None) -> bool:
    """By id: drafts only for their teacher and ADMIN; published and archived for everyone."""
    return course.status != CourseStatus.DRAFT or is_owner_or_admin(course, viewer)


def lists_everything_of(viewer: Viewer | None, teacher_id: object) -> bool:
    """Does a listing of `teacher_id`'s courses show drafts and archived ones to `viewer`?
    Only to the teacher and ADMIN; everyone else's listings show PUBLISHED only."""
    return viewer is not None and viewer.is_self_or_admin(teacher_id)


def can_see_enrollment(
    enrollment: AnyEnrollment, course: AnyCourse | None, viewer: Viewer | None
) -> bool:
    """The student, an admin, and the course's teacher may see an enrollment."""
    if viewer is None:
        return False
    if viewer.is_self_or_admin(enrollment.user_id):
        return True
    return course is not None and is_owner_or_admin(course, viewer)


class EnrollmentsOfSelfOrAdmin(BasePermission):
    """Guards `User.enrollments`: FORBIDDEN unless the viewer is this user or an ADMIN."""

    message = "Only this user or an admin can see their enrollments."

    def has_permission(self, source: Any, info: Info[Any, Any], **kwargs: Any) -> bool:
        viewer: Viewer | None = info.context.viewer
        if viewer is None or not viewer.is_self_or_admin(source.id):
            raise Forbidden(self.message)
        return True


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


def require_open_for_enrollment(course: Course | None, viewer: Viewer) -> Course:
    """The course, if `viewer` may enroll in it now: PUBLISHED (ARCHIVED is CONFLICT)."""
    if course is None or course.status == CourseStatus.DRAFT or not can_view(course, viewer):
        raise NotFound("No such course is open for enrollment.")
    if course.status == CourseStatus.ARCHIVED:
        raise Conflict("This course no longer accepts enrollments.")
    return course


def require_editable(course: Course) -> Course:
    if course.status == CourseStatus.ARCHIVED:
        raise Conflict("An archived course cannot be changed.")
    return course


def can_watch(
    lecture: Lecture,
    course: AnyCourse | None,
    seat: AnyEnrollment | None,
    viewer: Viewer | None,
) -> bool:
    """May `viewer` play the lecture's video? `seat`: their ACTIVE/COMPLETED enrollment."""
    if course is None or not can_view(course, viewer):
        return False
    return lecture.is_preview or is_owner_or_admin(course, viewer) or seat is not None
