"""S3 storage with real boto3 against moto in server mode (an S3-compatible HTTP server).

moto does not check signatures, expiry or signed headers, so the presigned URL's own
conditions are asserted here: SigV4, expiry, and Content-Type + Content-Length signed.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from subgraphs.files.processing.probe import probe
from subgraphs.files.storage.s3 import S3Storage
from tests.files.flow import confirm, create_upload, entity, put, wait_for_status
from tests.files.media import make_mp4
from tests.files.servers import S3_BUCKET as BUCKET
from tests.files.servers import (
    FakeCourses,
    FilesServer,
    StartFiles,
    moto_s3,
    s3_client,
    s3_settings,
)


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    with moto_s3(BUCKET) as url:
        yield url


@pytest.fixture
def s3_files(start_files: StartFiles, s3_url: str) -> FilesServer:
    return start_files(**s3_settings(s3_url, BUCKET), upload_url_ttl_seconds=600)


async def test_presigned_put_binds_type_size_and_expiry(s3_files: FilesServer, s3_url: str) -> None:
    ticket = await create_upload(s3_files, 12345)
    url = urlsplit(ticket["uploadUrl"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}" == s3_url
    assert url.path == f"/{BUCKET}/{ticket['fileId']}"  # path-style, key = file id
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] in ("599", "600")
    assert set(query["X-Amz-SignedHeaders"].split(";")) == {
        "content-length",
        "content-type",
        "host",
    }
    assert query["X-Amz-Credential"].startswith("test/")
    assert ticket["method"] == "PUT"
    assert ticket["headers"] == [{"name": "Content-Type", "value": "video/mp4"}]


async def test_upload_to_s3_confirm_and_play(
    s3_files: FilesServer, s3_url: str, courses: FakeCourses
) -> None:
    video = make_mp4(61.0)
    ticket = await create_upload(s3_files, len(video))
    assert (await put(ticket, video)).status_code == 200
    confirmed = await confirm(s3_files, ticket["fileId"])
    assert confirmed["status"] == "PROCESSING"
    # The local processor downloads the object from S3 and probes it.
    ready = await wait_for_status(s3_files, ticket["fileId"])
    assert (ready["status"], ready["durationSeconds"]) == ("READY", 61.0)
    assert (await courses.wait_for_calls(1))[0]["durationSeconds"] == 61

    url = (await entity(s3_files, ticket["fileId"], viewerCanWatch=True))["playbackUrl"]
    assert url.startswith(f"{s3_url}/{BUCKET}/{ticket['fileId']}?")
    assert "X-Amz-Signature=" in url
    async with httpx.AsyncClient() as client:
        part = await client.get(url, headers={"range": "bytes=0-15"})
    assert (part.status_code, part.content) == (206, video[:16])
    assert (await entity(s3_files, ticket["fileId"], viewerCanWatch=False))["playbackUrl"] is None


async def test_confirm_checks_the_stored_object(s3_files: FilesServer, s3_url: str) -> None:
    missing = await create_upload(s3_files, 100)
    failed = await confirm(s3_files, missing["fileId"])
    assert (failed["status"], failed["failureReason"]) == ("FAILED", "The upload was not received.")

    # moto accepts any body; S3 would refuse it, and HEAD on confirm catches it anyway.
    wrong = await create_upload(s3_files, 100)
    async with httpx.AsyncClient() as client:
        response = await client.put(
            wrong["uploadUrl"], content=b"x" * 50, headers={"content-type": "video/mp4"}
        )
    assert response.status_code == 200
    failed = await confirm(s3_files, wrong["fileId"])
    assert failed["status"] == "FAILED"
    assert failed["failureReason"] == "The upload has 50 bytes; 100 were announced."

    typed = await create_upload(s3_files, 10)
    async with httpx.AsyncClient() as client:
        await client.put(
            typed["uploadUrl"], content=b"x" * 10, headers={"content-type": "text/html"}
        )
    failed = await confirm(s3_files, typed["fileId"])
    assert failed["failureReason"] == "The upload has type text/html; video/mp4 was announced."


async def test_delete_removes_the_object(s3_files: FilesServer, s3_url: str) -> None:
    video = make_mp4(1.0)
    ticket = await create_upload(s3_files, len(video))
    await put(ticket, video)
    client = s3_client(s3_url)
    assert client.head_object(Bucket=BUCKET, Key=ticket["fileId"])["ContentLength"] == len(video)
    result = await s3_files.call(
        "mutation($id: ID!) { deleteFile(id: $id) }", {"id": ticket["fileId"]}
    )
    assert result.ok()["deleteFile"] is True
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=ticket["fileId"])
    assert listed.get("KeyCount") == 0
    client.close()


def test_probing_reads_only_the_headers_of_a_large_object(s3_url: str) -> None:
    storage = S3Storage(
        BUCKET,
        region="us-east-1",
        endpoint_url=s3_url,
        access_key_id="test",
        secret_access_key="test",
    )
    video = make_mp4(30.0, media_bytes=4 * 1024 * 1024)
    client = s3_client(s3_url)
    client.put_object(Bucket=BUCKET, Key="large-object", Body=video)
    client.close()
    with storage.open_blocking("large-object") as reader:
        assert probe(reader, "video/mp4").duration_seconds == 30.0
        fetched = reader.raw.fetched_bytes  # type: ignore[attr-defined]
    assert fetched < 256 * 1024 < len(video)
