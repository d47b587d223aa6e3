"""S3 (or any S3-compatible service) through boto3: presigned PUT and GET, HEAD on confirm.

boto3 blocks, so every network call runs in a worker thread; presigning is local work.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any, BinaryIO

import anyio
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from subgraphs.files.storage import ObjectInfo, UploadTarget

READ_BUFFER = 64 * 1024


class S3Storage:
    name = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        region: str,
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        self._bucket = bucket
        self._client: Any = boto3.client(
            "s3",
            region_name=region,
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            # SigV4 signs the headers named in the URL (Content-Type, Content-Length), so S3
            # itself refuses an upload of another type or size.
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )

    def presign_upload(
        self, key: str, content_type: str, size: int, expires_at: datetime
    ) -> UploadTarget:
        url: str = self._client.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": self._bucket,
                "Key": key,
                "ContentType": content_type,
                "ContentLength": size,
            },
            ExpiresIn=_seconds_until(expires_at),
            HttpMethod="PUT",
        )
        # Content-Length is signed too, but clients (and browsers, which forbid setting it)
        # send it from the body on their own.
        return UploadTarget(
            url=url, method="PUT", headers={"Content-Type": content_type}, expires_at=expires_at
        )

    def download_url(self, key: str, expires_at: datetime) -> str:
        url: str = self._client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self._bucket, "Key": key},
            ExpiresIn=_seconds_until(expires_at),
        )
        return url

    async def stat(self, key: str) -> ObjectInfo | None:
        try:
            head = await anyio.to_thread.run_sync(
                lambda: self._client.head_object(Bucket=self._bucket, Key=key)
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return ObjectInfo(size=int(head["ContentLength"]), content_type=head.get("ContentType"))

    async def delete(self, key: str) -> None:
        await anyio.to_thread.run_sync(
            lambda: self._client.delete_object(Bucket=self._bucket, Key=key)
        )

    def open_blocking(self, key: str) -> BinaryIO:
        # Ranged GETs through a read buffer: probing a large video reads its headers only.
        raw = _RangeReader(self._client, self._bucket, key)
        return io.BufferedReader(raw, buffer_size=READ_BUFFER)

    async def close(self) -> None:
        await anyio.to_thread.run_sync(self._client.close)


class _RangeReader(io.RawIOBase):
    """A seekable, read-only view of one S3 object, fetched by byte ranges."""

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        super().__init__()
        self._client = client
        self._bucket = bucket
        self._key = key
        self._size = int(client.head_object(Bucket=bucket, Key=key)["ContentLength"])
        self._position = 0
        self.fetched_bytes = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        if self._position >= self._size or len(buffer) == 0:
            return 0
        last = min(self._size, self._position + len(buffer)) - 1
        response = self._client.get_object(
            Bucket=self._bucket, Key=self._key, Range=f"bytes={self._position}-{last}"
        )
        data = response["Body"].read()
        buffer[: len(data)] = data
        self._position += len(data)
        self.fetched_bytes += len(data)
        return len(data)


def _seconds_until(moment: datetime) -> int:
    return max(1, int((moment - datetime.now(UTC)).total_seconds()))
