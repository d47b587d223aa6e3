"""Where uploaded objects live. Keys are file ids chosen by files, never client paths."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Protocol


@dataclass(frozen=True)
class UploadTarget:
    """Where and how a client uploads one object directly."""

    url: str
    method: str
    headers: dict[str, str]
    expires_at: datetime


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    content_type: str | None


class Storage(Protocol):
    name: str

    def presign_upload(
        self, key: str, content_type: str, size: int, expires_at: datetime
    ) -> UploadTarget:
        """A URL that accepts exactly one object of this type and size until `expires_at`."""
        ...

    def download_url(self, key: str, expires_at: datetime) -> str:
        """A signed GET URL (Range-capable) for players and video processors."""
        ...

    async def stat(self, key: str) -> ObjectInfo | None:
        """The stored object's size and type, or None when nothing was uploaded."""
        ...

    async def delete(self, key: str) -> None: ...

    def open_blocking(self, key: str) -> BinaryIO:
        """A seekable reader of the object, for a worker thread (its reads block)."""
        ...

    async def close(self) -> None: ...
