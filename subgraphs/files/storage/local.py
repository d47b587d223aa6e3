"""Local-disk storage: files itself accepts signed PUT uploads and serves signed GET media.

URLs carry `expires` and an HMAC over method, path and expiry (and, for uploads, the exact
size and content type), so a URL cannot be stretched to another object, size, type or time.
Objects are written to a temporary file and renamed into place, so a reader never sees a
partial object; the size is enforced while the body streams in.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import AsyncIterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlencode

import anyio

from subgraphs.files.storage import ObjectInfo, UploadTarget

UPLOAD_PATH = "/storage/uploads/{key}"
MEDIA_PATH = "/media/{key}"
# Keys are UUIDs that files generated: nothing else may ever become a path.
KEY_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class SignedUrlError(Exception):
    """A request to a signed URL that must be refused; `status` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


class LocalStorage:
    name = "local"

    def __init__(self, root: Path, public_url: str, key: bytes) -> None:
        self.root = root
        self._public_url = public_url.rstrip("/")
        self._key = key
        self._tmp = root / ".incoming"

    def open(self) -> None:
        self._tmp.mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        return None

    # ------------------------------------------------------------------ signing
    def _sign(self, *parts: str) -> str:
        return hmac.new(self._key, "\n".join(parts).encode(), hashlib.sha256).hexdigest()

    def presign_upload(
        self, key: str, content_type: str, size: int, expires_at: datetime
    ) -> UploadTarget:
        path = UPLOAD_PATH.format(key=_checked(key))
        expires = str(int(expires_at.timestamp()))
        signature = self._sign("PUT", path, expires, str(size), content_type)
        query = urlencode(
            {"expires": expires, "size": size, "type": content_type, "signature": signature}
        )
        return UploadTarget(
            url=f"{self._public_url}{path}?{query}",
            method="PUT",
            headers={"Content-Type": content_type},
            expires_at=expires_at,
        )

    def download_url(self, key: str, expires_at: datetime) -> str:
        path = MEDIA_PATH.format(key=_checked(key))
        expires = str(int(expires_at.timestamp()))
        query = urlencode({"expires": expires, "signature": self._sign("GET", path, expires)})
        return f"{self._public_url}{path}?{query}"

    def verify_upload(
        self, key: str, query: Mapping[str, str], content_type: str | None
    ) -> tuple[int, str]:
        """Check an upload request against its URL; returns the (size, type) it allows."""
        path = UPLOAD_PATH.format(key=_checked_or_404(key))
        expires, size, signed_type = (query.get(n, "") for n in ("expires", "size", "type"))
        expected = self._sign("PUT", path, expires, size, signed_type)
        self._check(expected, query.get("signature", ""), expires)
        if content_type is None or _media_type(content_type) != _media_type(signed_type):
            raise SignedUrlError(415, f"This upload URL accepts Content-Type {signed_type} only.")
        return int(size), signed_type

    def verify_download(self, key: str, query: Mapping[str, str]) -> None:
        path = MEDIA_PATH.format(key=_checked_or_404(key))
        expires = query.get("expires", "")
        self._check(self._sign("GET", path, expires), query.get("signature", ""), expires)

    def _check(self, expected: str, given: str, expires: str) -> None:
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise SignedUrlError(403, "The URL signature is invalid.")
        # Signed, so `expires` is ours; still refuse anything that is not a number.
        if not expires.isdigit() or int(expires) < time.time():
            raise SignedUrlError(403, "The URL has expired.")

    # ------------------------------------------------------------------ objects
    def path(self, key: str) -> Path:
        key = _checked(key)
        return self.root / key[:2] / key

    async def receive(self, key: str, body: AsyncIterable[bytes], size: int) -> None:
        """Store exactly `size` bytes from `body` under `key`, atomically."""
        final = self.path(key)
        temporary = self._tmp / f"{key}.{secrets.token_hex(4)}.part"
        received = 0
        try:
            async with await anyio.open_file(temporary, "wb") as out:
                async for chunk in body:
                    received += len(chunk)
                    if received > size:
                        raise SignedUrlError(413, f"The upload is larger than {size} bytes.")
                    await out.write(chunk)
                if received != size:
                    raise SignedUrlError(
                        400, f"The upload has {received} bytes; {size} were announced."
                    )
                await out.flush()
                await anyio.to_thread.run_sync(os.fsync, out.wrapped.fileno())
            await anyio.to_thread.run_sync(_move_into_place, temporary, final)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()

    async def stat(self, key: str) -> ObjectInfo | None:
        try:
            result = await anyio.to_thread.run_sync(self.path(key).stat)
        except FileNotFoundError:
            return None
        # The upload endpoint already refused any other type than the signed one.
        return ObjectInfo(size=result.st_size, content_type=None)

    async def delete(self, key: str) -> None:
        await anyio.to_thread.run_sync(lambda: self.path(key).unlink(missing_ok=True))

    def open_blocking(self, key: str) -> BinaryIO:
        return self.path(key).open("rb")


def _move_into_place(temporary: Path, final: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(temporary, final)


def _checked(key: str) -> str:
    if not KEY_PATTERN.match(key):
        raise ValueError(f"not a storage key: {key!r}")
    return key


def _checked_or_404(key: str) -> str:
    if not KEY_PATTERN.match(key):
        raise SignedUrlError(404, "No such object.")
    return key
