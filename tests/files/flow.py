"""GraphQL operations courses sends to files, and small steps of the upload flow."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.files.servers import FilesServer

CREATE = """
mutation($owner: ID!, $purpose: String!, $name: String!, $size: Float!, $type: String!) {
  createUpload(ownerId: $owner, purpose: $purpose, fileName: $name, sizeBytes: $size,
               contentType: $type) {
    fileId uploadUrl method headers { name value } expiresAt
  }
}
"""
CONFIRM = """
mutation($id: ID!) {
  confirmUpload(fileId: $id) { id status sizeBytes contentType durationSeconds failureReason }
}
"""
GET = """
query($id: ID!) {
  internalFile(id: $id) { id status sizeBytes contentType durationSeconds failureReason }
}
"""
DELETE = "mutation($id: ID!) { deleteFile(id: $id) }"
ENTITY = """
query($reps: [_Any!]!) {
  _entities(representations: $reps) {
    ... on File { id fileName status durationSeconds playbackUrl thumbnailUrl }
  }
}
"""


async def create_upload(
    files: FilesServer,
    size: int,
    content_type: str = "video/mp4",
    name: str = "lecture 1.mp4",
) -> dict[str, Any]:
    variables = {
        "owner": "lecture-1",
        "purpose": "lecture_video",
        "name": name,
        "size": size,
        "type": content_type,
    }
    ticket: dict[str, Any] = (await files.call(CREATE, variables)).ok()["createUpload"]
    return ticket


async def put(ticket: dict[str, Any], data: bytes, **headers: str) -> httpx.Response:
    sent = {h["name"]: h["value"] for h in ticket["headers"]}
    sent.update(headers)
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.request(
            ticket["method"], ticket["uploadUrl"], content=data, headers=sent
        )


async def confirm(files: FilesServer, file_id: str) -> dict[str, Any]:
    result: dict[str, Any] = (await files.call(CONFIRM, {"id": file_id})).ok()["confirmUpload"]
    return result


async def wait_for_status(
    files: FilesServer, file_id: str, statuses: tuple[str, ...] = ("READY", "FAILED")
) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while True:
        found: dict[str, Any] = (await files.call(GET, {"id": file_id})).ok()["internalFile"]
        if found["status"] in statuses:
            return found
        assert time.monotonic() < deadline, f"still {found}"
        await asyncio.sleep(0.1)


async def entity(files: FilesServer, file_id: str, **extra: Any) -> dict[str, Any]:
    reps = [{"__typename": "File", "id": file_id, **extra}]
    # The router reaches `_entities` signed as itself.
    result = await files.call(ENTITY, {"reps": reps}, service="router")
    found: dict[str, Any] = result.ok()["_entities"][0]
    return found
