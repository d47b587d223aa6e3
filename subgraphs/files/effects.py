"""What files' events do, delivered by the outbox relay (at least once): courses learns
when a lecture video is READY or FAILED."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from coursegraph.errors import ServiceUnavailable
from coursegraph.events import Event
from coursegraph.log import get_logger
from coursegraph.outbox import Handler
from subgraphs.files.clients import CoursesClient

log = get_logger("coursegraph.files.effects")

TOPIC_READY = "video.ready"
TOPIC_FAILED = "video.failed"

# Courses answers false while no lecture names the file. Shortly after an upload that can
# be a race with courses' own commit, so it is retried; an hour later it is a file nobody
# uses any more (the lecture got another video), and retrying forever would help no one.
UNCLAIMED_GIVE_UP = timedelta(hours=1)


def outbox_handlers(courses: CoursesClient) -> dict[str, Handler]:
    """What each files event does; courses' `recordVideoStatus` is idempotent."""

    async def deliver_video_event(event: Event) -> None:
        """`video.ready` and `video.failed` for courses: raising means retry."""
        payload = event.payload
        if payload.get("purpose") != "lecture_video":
            return
        duration = payload.get("durationSeconds")
        # Courses keeps whole seconds; a video shorter than one second still has length.
        seconds = (
            max(1, round(duration)) if isinstance(duration, int | float) and duration > 0 else None
        )
        if await courses.record_video_status(payload["fileId"], payload["status"], seconds):
            return
        recorded_at = datetime.fromisoformat(payload["recordedAt"])
        if datetime.now(UTC) - recorded_at > UNCLAIMED_GIVE_UP:
            log.warning("no lecture has this video; courses is not told", file_id=payload["fileId"])
            return
        raise ServiceUnavailable("Courses has no lecture with this video yet.")

    return {TOPIC_READY: deliver_video_event, TOPIC_FAILED: deliver_video_event}
