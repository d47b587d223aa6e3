"""Files' calls to other subgraphs: courses learns when a lecture video is READY or FAILED."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from coursegraph.errors import ServiceUnavailable
from coursegraph.events import Event
from coursegraph.http import GraphQLServiceClient, signed_client
from coursegraph.log import get_logger
from coursegraph.settings import Settings

log = get_logger("coursegraph.files.clients")

RECORD_VIDEO_STATUS = """
mutation RecordVideoStatus($fileId: ID!, $status: VideoStatus!, $durationSeconds: Int) {
  recordVideoStatus(fileId: $fileId, status: $status, durationSeconds: $durationSeconds)
}
"""
# Courses answers false while no lecture names the file. Shortly after an upload that can
# be a race with courses' own commit, so it is retried; an hour later it is a file nobody
# uses any more (the lecture got another video), and retrying forever would help no one.
UNCLAIMED_GIVE_UP = timedelta(hours=1)


class CoursesClient:
    def __init__(self, settings: Settings) -> None:
        self._graphql = GraphQLServiceClient(
            signed_client(settings, "files", settings.service_url("courses")), "courses"
        )

    async def record_video_status(
        self, file_id: str, status: str, duration_seconds: int | None
    ) -> bool:
        """True when a lecture took the status; False when none has this video."""
        data = await self._graphql.execute(
            RECORD_VIDEO_STATUS,
            {"fileId": file_id, "status": status, "durationSeconds": duration_seconds},
        )
        return data.get("recordVideoStatus") is True

    async def deliver_video_event(self, event: Event) -> None:
        """The outbox handler of `video.ready` and `video.failed`: raising means retry."""
        payload = event.payload
        if payload.get("purpose") != "lecture_video":
            return
        duration = payload.get("durationSeconds")
        # Courses keeps whole seconds; a video shorter than one second still has length.
        seconds = (
            max(1, round(duration)) if isinstance(duration, int | float) and duration > 0 else None
        )
        if await self.record_video_status(payload["fileId"], payload["status"], seconds):
            return
        recorded_at = datetime.fromisoformat(payload["recordedAt"])
        if datetime.now(UTC) - recorded_at > UNCLAIMED_GIVE_UP:
            log.warning("no lecture has this video; courses is not told", file_id=payload["fileId"])
            return
        raise ServiceUnavailable("Courses has no lecture with this video yet.")

    async def aclose(self) -> None:
        await self._graphql.aclose()
