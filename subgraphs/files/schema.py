"""Files' GraphQL types and resolvers: thin, they call `FileService`.

Playback entitlement comes from courses through federation: courses contributes
`File.viewerCanWatch`, and `playbackUrl` / `thumbnailUrl` `@requires` it, so the router
fetches it from courses and hands it to `File.resolve_reference` here.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.types import Info

from coursegraph.context import RequestContext
from coursegraph.federation import build_schema, internal_field
from coursegraph.graphql_types import UploadHeader, UploadTicket
from subgraphs.files.bootstrap import FilesContainer
from subgraphs.files.loaders import FilesLoaders
from subgraphs.files.models import StoredFile
from subgraphs.files.service import Upload

Context = RequestContext[FilesContainer, FilesLoaders]


@strawberry.enum
class FileStatus(Enum):
    PENDING_UPLOAD = "PENDING_UPLOAD"
    UPLOADED = "UPLOADED"
    PROCESSING = "PROCESSING"
    READY = "READY"
    FAILED = "FAILED"


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
        # `viewerCanWatch` arrives only when a requiring field was asked for; absent, or
        # claimed by any caller but the router (which fetched it from courses), the viewer
        # is treated as not entitled.
        row = await info.context.loaders.files.load(str(id))
        entitled = viewerCanWatch is True and info.context.from_router
        return cls.from_model(row, viewer_can_watch=entitled) if row else None


def ticket_from_upload(upload: Upload) -> UploadTicket:
    target = upload.target
    return UploadTicket(
        file_id=strawberry.ID(str(upload.file.id)),
        upload_url=target.url,
        method=target.method,
        headers=[UploadHeader(name=k, value=v) for k, v in target.headers.items()],
        expires_at=target.expires_at,
    )


@strawberry.federation.type(inaccessible=True)
class InternalFile:
    """What courses learns about a file it asked for."""

    id: strawberry.ID
    status: FileStatus
    size_bytes: float
    content_type: str
    duration_seconds: float | None
    failure_reason: str | None

    @classmethod
    def from_model(cls, row: StoredFile) -> InternalFile:
        return cls(
            id=strawberry.ID(str(row.id)),
            status=FileStatus(row.status),
            size_bytes=float(row.size_bytes),
            content_type=row.content_type,
            duration_seconds=row.duration_seconds,
            failure_reason=row.failure_reason,
        )


async def _internal_file(info: Info[Context, None], id: strawberry.ID) -> InternalFile | None:
    row = await info.context.loaders.files.load(str(id))
    return InternalFile.from_model(row) if row else None


async def _create_upload(
    info: Info[Context, None],
    owner_id: strawberry.ID,
    purpose: str,
    file_name: str,
    size_bytes: float,
    content_type: str,
    uploaded_by: strawberry.ID | None = None,
) -> UploadTicket:
    upload = await info.context.container.files.create_upload(
        str(owner_id),
        purpose,
        file_name,
        size_bytes,
        content_type,
        uploaded_by=str(uploaded_by) if uploaded_by is not None else None,
    )
    return ticket_from_upload(upload)


async def _confirm_upload(info: Info[Context, None], file_id: strawberry.ID) -> InternalFile:
    return InternalFile.from_model(await info.context.container.files.confirm_upload(str(file_id)))


async def _delete_file(info: Info[Context, None], id: strawberry.ID) -> bool:
    return await info.context.container.files.delete(str(id))


@strawberry.type
class Query:
    internal_file: InternalFile | None = internal_field(
        _internal_file, services=["courses"], description="A file by id, or null."
    )


@strawberry.type
class Mutation:
    create_upload: UploadTicket = internal_field(
        _create_upload,
        services=["courses"],
        description="A file record and a signed URL the client uploads it to.",
    )
    confirm_upload: InternalFile = internal_field(
        _confirm_upload,
        services=["courses"],
        description="Check the stored object against the announcement; start processing.",
    )
    delete_file: bool = internal_field(
        _delete_file, services=["courses"], description="Remove a file and its stored data."
    )


schema = build_schema(query=Query, mutation=Mutation, types=[File])
