"""Lecture videos: courses' side of the upload flow with the files subgraph.

- `initiate_upload`: the viewer may manage the lecture and the announced video is
  acceptable → files issues an upload ticket → the lecture names the new file, UPLOADING
  → files deletes the video it replaced.
- The client uploads straight to files; `confirm_upload` has files check the object and
  start processing → PROCESSING (or FAILED when the object does not match).
- Files reports READY or FAILED later through `record_video_status`.
- Each change of a lecture's video status writes `course.updated` (change `video`, with
  the lecture id) in the same transaction: the router's cache drops the course page, and
  `lectureVideoUpdated` subscribers on any instance re-read the lecture (`watch`).

No GraphQL and no HTTP here (files is reached through `clients.py`); every public method
owns its transaction, and no transaction stays open across a call to files, so a slow
files service never holds a row lock.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events.courses import CourseUpdated
from coursegraph import outbox
from coursegraph.db import Database, is_unique_violation
from coursegraph.errors import BadUserInput, Conflict, NotFound, ServiceUnavailable
from coursegraph.identity import Viewer
from coursegraph.ids import parse_uuid
from coursegraph.live import LiveFeed, watch_state
from coursegraph.log import get_logger
from subgraphs.courses.clients import FilesClient, UploadTicket
from subgraphs.courses.models import Course, Lecture, VideoStatus
from subgraphs.courses.models import outbox as outbox_table
from subgraphs.courses.policy import (
    can_view,
    require_author,
    require_editable,
    require_manage,
)

log = get_logger("coursegraph.courses.videos")

VIDEO_PURPOSE = "lecture_video"  # what files knows lecture videos by
VIDEO_TYPES = frozenset({"video/mp4", "video/webm", "video/quicktime"})
MAX_FILE_NAME = 255
# An extension longer than this is not one worth keeping when a long name is cut.
_MAX_EXTENSION = 16
# The lecture's status once files has answered a confirmation.
_STATUS_AFTER_CONFIRM = {
    "UPLOADED": VideoStatus.PROCESSING,
    "PROCESSING": VideoStatus.PROCESSING,
    "READY": VideoStatus.READY,
    "FAILED": VideoStatus.FAILED,
}


@dataclass(frozen=True, slots=True)
class VideoUpload:
    """What the client announces before uploading a lecture video."""

    file_name: str
    file_size: float
    content_type: str


@dataclass(frozen=True, slots=True)
class Attached:
    lecture: Lecture
    # The file the lecture named before, which nobody can play any more.
    replaced_file_id: str | None


def clean_file_name(name: str) -> str:
    """A display name: no path, no control or invisible characters, at most 255 long."""
    base = re.split(r"[/\\]", name)[-1]
    base = unicodedata.normalize("NFC", base)
    # Whitespace (tabs, newlines) becomes a space; the rest of category C goes: control,
    # format (e.g. right-to-left overrides), private use and unassigned characters.
    base = "".join(
        " " if c.isspace() else c for c in base if c.isspace() or unicodedata.category(c)[0] != "C"
    )
    # No leading dot: a hidden name on whatever disk the file is downloaded to.
    base = " ".join(base.split()).lstrip(". ")
    if not base:
        raise BadUserInput("The file name must not be empty.", field="fileName")
    if len(base) > MAX_FILE_NAME:
        stem, dot, extension = base.rpartition(".")
        if dot and stem and len(extension) <= _MAX_EXTENSION:
            base = f"{base[: MAX_FILE_NAME - len(extension) - 1].rstrip()}.{extension}"
        else:
            base = base[:MAX_FILE_NAME]
    return base


def video_type(content_type: str) -> str:
    """The announced media type, normalised; only the video types players share."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in VIDEO_TYPES:
        raise BadUserInput(
            f"Videos of type {content_type!r} are not accepted; use one of "
            f"{', '.join(sorted(VIDEO_TYPES))}.",
            field="contentType",
        )
    return media_type


def video_size(file_size: float, limit: int) -> int:
    """The announced size in bytes (a Float in the API: sizes pass 2^31)."""
    if not math.isfinite(file_size) or file_size != int(file_size) or file_size <= 0:
        raise BadUserInput(
            "The file size must be a positive whole number of bytes.", field="fileSize"
        )
    if file_size > limit:
        raise BadUserInput(
            f"The video is larger than the limit of {limit} bytes.", field="fileSize"
        )
    return int(file_size)


def whole_seconds(duration: float | None) -> int | None:
    # The same rounding files applies when it reports a duration: a video shorter than
    # one second still has length.
    if duration is None or not math.isfinite(duration) or duration <= 0:
        return None
    return max(1, round(duration))


# ------------------------------------------------------------------ status transitions
# Pure functions of the lecture (tests/unit/test_video_states.py); callers hold its lock.
def attach_video(lecture: Lecture, file_id: str) -> str | None:
    """Make `file_id` the lecture's video, waiting for its upload; the file it replaced
    (None when none, or when it is the same file, which changes nothing)."""
    previous = lecture.video_file_id
    if previous == file_id:
        return None
    lecture.video_file_id = file_id
    lecture.video_status = VideoStatus.UPLOADING
    lecture.duration_seconds = None
    return previous


def status_after_confirm(files_status: str) -> VideoStatus:
    """The lecture's video status once files answered a confirmation."""
    status = _STATUS_AFTER_CONFIRM.get(files_status)
    if status is None:
        raise ServiceUnavailable("The files service answered badly.")
    return status


def confirm_video(
    lecture: Lecture, file_id: str, status: VideoStatus, duration: float | None
) -> bool:
    """Files confirmed `file_id` as `status`; True when the lecture moved on.

    Only an upload still waiting moves on. Files' worker may already have reported READY
    (its outbox can beat this commit), and a newer upload may have replaced this one: both
    are newer news than this answer.
    """
    if lecture.video_file_id != file_id or lecture.video_status != VideoStatus.UPLOADING:
        return False
    lecture.video_status = status
    if status == VideoStatus.READY:
        lecture.duration_seconds = whole_seconds(duration)
    return True


# What `lectureVideoUpdated` waits on, keyed by the lecture.
LIVE_KEYS: dict[str, str] = {CourseUpdated.TOPIC: "lectureId"}


def _client_view(lecture: Lecture) -> Hashable:
    """What a subscriber sees change: a new value is sent only when this differs."""
    return (lecture.video_status, lecture.video_file_id, lecture.duration_seconds)


class VideoService:
    def __init__(
        self,
        database: Database,
        files: FilesClient,
        max_video_bytes: int,
        live: LiveFeed | None = None,
        on_event: Callable[[], None] = lambda: None,
    ) -> None:
        """`live`: None in short-lived processes (seeding), which serve no subscriptions;
        `on_event`: wakes the outbox relay after a commit that wrote an event."""
        self._db = database
        self._files = files
        self._max_video_bytes = max_video_bytes
        self._live = live
        self._on_event = on_event

    async def watch(self, viewer: Viewer | None, lecture_id: str) -> AsyncIterator[Lecture]:
        """`lectureVideoUpdated`: the course's teacher or an ADMIN (refused before anything
        streams, as uploads are); then the lecture now and after each video change."""
        require_author(viewer)
        lecture = await self._lecture_of_managed_course(viewer, lecture_id)
        if self._live is None:
            raise ServiceUnavailable("This process serves no subscriptions.")

        async def load() -> Lecture:
            async with self._db.read() as session:
                current = await session.get(Lecture, lecture.id)
            if current is None:
                raise NotFound("No such lecture.")
            return current

        return watch_state(self._live, str(lecture.id), load, _client_view)

    async def _changed(self, session: AsyncSession, lecture: Lecture) -> None:
        """A lecture's video status changed: `course.updated` (change `video`) tells the
        router's cache (its course page) and `lectureVideoUpdated` subscribers."""
        course = await session.get(Course, lecture.course_id)
        if course is None:
            return
        event = CourseUpdated(
            courseId=str(course.id),
            teacherId=str(course.teacher_id),
            change="video",
            lectureId=str(lecture.id),
        )
        await outbox.add(session, outbox_table, event)

    async def initiate_upload(
        self, viewer: Viewer | None, lecture_id: str, upload: VideoUpload
    ) -> UploadTicket:
        """A ticket to upload the lecture's (new) video to; the lecture is then UPLOADING."""
        lecture = await self._managed(viewer, lecture_id)
        file_name = clean_file_name(upload.file_name)
        content_type = video_type(upload.content_type)
        size = video_size(upload.file_size, self._max_video_bytes)
        # Before any write: when files is down, nothing changes here.
        assert viewer is not None  # `_managed` let a teacher or an admin through
        ticket = await self._files.create_upload(
            str(lecture.id), VIDEO_PURPOSE, file_name, size, content_type, viewer.id
        )
        try:
            attached = await self.attach(viewer, str(lecture.id), ticket.file_id)
        except Exception:
            # The lecture never named the new file; without this it would stay in files.
            await self._discard(ticket.file_id)
            raise
        if attached.replaced_file_id is not None:
            await self._discard(attached.replaced_file_id)
        return ticket

    async def attach(self, viewer: Viewer | None, lecture_id: str, file_id: str) -> Attached:
        """Make `file_id` (a file in files) the lecture's video, waiting for its upload."""
        parsed = parse_uuid(lecture_id)
        try:
            async with self._db.transaction() as session:
                found = await session.get(Lecture, parsed) if parsed else None
                if found is None:
                    raise NotFound("No such lecture.")
                # The course row first, as every curriculum edit locks it: one lock order.
                course = await session.get(Course, found.course_id, with_for_update=True)
                require_editable(require_manage(self._visible(course, viewer), viewer))
                lecture = await session.get(
                    Lecture, found.id, with_for_update=True, populate_existing=True
                )
                if lecture is None:
                    raise NotFound("No such lecture.")
                before = lecture.video_file_id
                replaced = attach_video(lecture, file_id)
                if lecture.video_file_id != before:
                    await session.flush()  # the unique video constraint, before the event
                    await self._changed(session, lecture)
        except IntegrityError as error:
            if is_unique_violation(error):
                raise Conflict("This file is already the video of another lecture.") from None
            raise
        self._on_event()
        return Attached(lecture, replaced)

    async def confirm_upload(self, viewer: Viewer | None, lecture_id: str, file_id: str) -> Lecture:
        """Files checks the uploaded object and starts processing: PROCESSING or FAILED.

        Idempotent: once confirmed, the lecture is returned as it is.
        """
        lecture = await self._managed(viewer, lecture_id)
        if lecture.video_file_id is None or lecture.video_file_id != file_id:
            raise BadUserInput("This file is not the lecture's current upload.", field="fileId")
        if lecture.video_status != VideoStatus.UPLOADING:
            return lecture
        confirmed = await self._files.confirm_upload(lecture.video_file_id)
        status = status_after_confirm(confirmed.status)
        if status == VideoStatus.FAILED:
            # The contract has no field for the reason; operators find it here (and in files).
            log.info(
                "lecture video upload failed",
                lecture_id=str(lecture.id),
                file_id=lecture.video_file_id,
                reason=confirmed.failure_reason,
            )
        async with self._db.transaction() as session:
            current = await session.get(Lecture, lecture.id, with_for_update=True)
            if current is None:
                raise NotFound("No such lecture.")
            if confirm_video(current, file_id, status, confirmed.duration_seconds):
                await self._changed(session, current)
        self._on_event()
        return current

    async def record_video_status(
        self, file_id: str, status: str, duration_seconds: int | None
    ) -> bool:
        """Set the status (and duration, when known) of the lecture whose video is the file.

        Files calls this when processing ends. Idempotent; False when no lecture has that
        video (any more).
        """
        if status not in tuple(VideoStatus):
            raise BadUserInput(f"Unknown video status {status!r}.", field="status")
        if duration_seconds is not None and duration_seconds < 0:
            raise BadUserInput("The duration must not be negative.", field="durationSeconds")
        values: dict[str, Any] = {"video_status": status}
        if duration_seconds is not None:
            values["duration_seconds"] = duration_seconds
        async with self._db.transaction() as session:
            updated = await session.scalar(
                update(Lecture)
                .where(Lecture.video_file_id == file_id)
                .values(**values)
                .returning(Lecture)
            )
            if updated is not None:
                await self._changed(session, updated)
        if updated is not None:
            self._on_event()
        return updated is not None

    # ------------------------------------------------------------------ helpers
    async def _managed(self, viewer: Viewer | None, lecture_id: str) -> Lecture:
        """The lecture, if `viewer` may change its course (checked before any call out)."""
        require_author(viewer)
        return await self._lecture_of_managed_course(viewer, lecture_id, editable=True)

    async def _lecture_of_managed_course(
        self, viewer: Viewer | None, lecture_id: str, *, editable: bool = False
    ) -> Lecture:
        parsed = parse_uuid(lecture_id)
        async with self._db.read() as session:
            lecture = await session.get(Lecture, parsed) if parsed else None
            if lecture is None:
                raise NotFound("No such lecture.")
            course = await session.get(Course, lecture.course_id)
        managed = require_manage(self._visible(course, viewer), viewer)
        if editable:
            require_editable(managed)
        return lecture

    @staticmethod
    def _visible(course: Course | None, viewer: Viewer | None) -> Course:
        # A lecture of a draft the viewer may not see does not exist for them.
        if course is None or not can_view(course, viewer):
            raise NotFound("No such lecture.")
        return course

    async def _discard(self, file_id: str) -> None:
        """Have files delete a file no lecture names; failing that, leave it and say so."""
        try:
            await self._files.delete_file(file_id)
        except Exception as error:
            log.warning(
                "could not delete a lecture video nobody uses any more",
                file_id=file_id,
                error=str(error),
            )
