"""Files' calls to other subgraphs: courses, told a lecture video's status."""

from __future__ import annotations

from coursegraph.http import GraphQLServiceClient, signed_client
from coursegraph.settings import Settings

RECORD_VIDEO_STATUS = """
mutation RecordVideoStatus($fileId: ID!, $status: VideoStatus!, $durationSeconds: Int) {
  recordVideoStatus(fileId: $fileId, status: $status, durationSeconds: $durationSeconds)
}
"""


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

    async def aclose(self) -> None:
        await self._graphql.aclose()
