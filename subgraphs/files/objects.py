"""Files' GraphQL object types and enums.

Playback entitlement comes from courses through federation: courses contributes
`File.viewerCanWatch`, and `playbackUrl` / `thumbnailUrl` `@requires` it, so the router
fetches it from courses and hands it to `File.resolve_reference` here.
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from coursegraph.context import RequestContext
from subgraphs.files.bootstrap import FilesContainer
from subgraphs.files.loaders import FilesLoaders
from subgraphs.files.models import FileStatus, StoredFile
from subgraphs.files.policy import entitled_to_play

Context = RequestContext[FilesContainer, FilesLoaders]


# The GraphQL enum is the model's own (the values stored are the values served).
strawberry.enum(FileStatus)


@strawberry.federation.type(keys=["id"])
class File:
    id: strawberry.ID
    file_name: str
    content_type: str
    size_bytes: float
    status: FileStatus
    duration_seconds: float | None
    created_at: datetime
    viewer_can_watch: bool = strawberry.federation.field(
        external=True,
        default=False,
        description="Owned by courses: may the viewer play this video?",
    )
    _row: strawberry.Private[StoredFile]

    @strawberry.federation.field(
        requires=["viewerCanWatch"],
        description="Signed, expiring; null unless the viewer may watch and the video is READY.",
    )
    def playback_url(self, info: Info[Context, None]) -> str | None:
        playback = info.context.container.files.playback(self._row, self.viewer_can_watch)
        return playback.url if playback else None

    @strawberry.federation.field(
        requires=["viewerCanWatch"],
        description="Signed, expiring; null unless the viewer may watch and one exists.",
    )
    def thumbnail_url(self, info: Info[Context, None]) -> str | None:
        playback = info.context.container.files.playback(self._row, self.viewer_can_watch)
        return playback.thumbnail_url if playback else None

    @classmethod
    def from_model(cls, row: StoredFile, *, viewer_can_watch: bool = False) -> File:
        return cls(
            id=strawberry.ID(str(row.id)),
            file_name=row.file_name,
            content_type=row.content_type,
            size_bytes=float(row.size_bytes),
            status=FileStatus(row.status),
            duration_seconds=row.duration_seconds,
            created_at=row.created_at,
            viewer_can_watch=viewer_can_watch,
            _row=row,
        )

    @classmethod
    async def resolve_reference(
        cls, info: Info[Context, None], id: strawberry.ID, viewerCanWatch: bool = False
    ) -> File | None:
        # `viewerCanWatch` arrives only when a requiring field was asked for.
        row = await info.context.loaders.files.load(str(id))
        entitled = entitled_to_play(viewerCanWatch, info.context.from_router)
        return cls.from_model(row, viewer_can_watch=entitled) if row else None
