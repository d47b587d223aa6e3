"""Internal fields other services call (HMAC-signed, `@inaccessible`): courses."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from coursegraph.graphql_types import UploadHeader, UploadTicket
from subgraphs.files.models import FileStatus, StoredFile
from subgraphs.files.objects import Context
from subgraphs.files.service import Upload


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


async def internal_file(info: Info[Context, None], id: strawberry.ID) -> InternalFile | None:
    row = await info.context.loaders.files.load(str(id))
    return InternalFile.from_model(row) if row else None


async def create_upload(
    info: Info[Context, None],
    owner_id: strawberry.ID,
    purpose: str,
    file_name: str,
    size_bytes: float,
    content_type: str,
) -> UploadTicket:
    upload = await info.context.container.files.create_upload(
        str(owner_id), purpose, file_name, size_bytes, content_type
    )
    return ticket_from_upload(upload)


async def confirm_upload(info: Info[Context, None], file_id: strawberry.ID) -> InternalFile:
    return InternalFile.from_model(await info.context.container.files.confirm_upload(str(file_id)))


async def delete_file(info: Info[Context, None], id: strawberry.ID) -> bool:
    return await info.context.container.files.delete(str(id))
