"""Playback of local media: entitlement from `viewerCanWatch`, signed URLs, HTTP Range."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx

from tests.files.flow import confirm, create_upload, entity, put, wait_for_status
from tests.files.media import make_mp4
from tests.files.servers import FilesServer, StartFiles


async def _ready_video(files: FilesServer) -> tuple[str, bytes]:
    video = make_mp4(10.0, media_bytes=8192)
    ticket = await create_upload(files, len(video))
    assert (await put(ticket, video)).status_code == 200
    await confirm(files, ticket["fileId"])
    assert (await wait_for_status(files, ticket["fileId"]))["status"] == "READY"
    return ticket["fileId"], video


async def test_only_an_entitled_viewer_gets_a_playback_url(start_files: StartFiles) -> None:
    files = start_files()
    file_id, _ = await _ready_video(files)
    outsider = await entity(files, file_id, viewerCanWatch=False)
    assert outsider["playbackUrl"] is None
    assert outsider["thumbnailUrl"] is None
    # Without the required field (a router that did not fetch it) nothing is granted either.
    assert (await entity(files, file_id))["playbackUrl"] is None

    student = await entity(files, file_id, viewerCanWatch=True)
    assert student["status"] == "READY"
    assert student["durationSeconds"] == 10.0
    assert student["playbackUrl"].startswith(f"{files.url}/media/{file_id}?")
    assert student["thumbnailUrl"] is None  # the local processor makes no thumbnails


async def test_no_playback_before_ready(start_files: StartFiles) -> None:
    files = start_files()
    ticket = await create_upload(files, 100)
    found = await entity(files, ticket["fileId"], viewerCanWatch=True)
    assert (found["status"], found["playbackUrl"]) == ("PENDING_UPLOAD", None)


async def test_media_streams_with_range_requests(start_files: StartFiles) -> None:
    files = start_files()
    file_id, video = await _ready_video(files)
    url = (await entity(files, file_id, viewerCanWatch=True))["playbackUrl"]
    size = len(video)
    async with httpx.AsyncClient() as client:
        whole = await client.get(url)
        assert whole.status_code == 200
        assert whole.content == video
        assert whole.headers["content-type"] == "video/mp4"
        assert whole.headers["accept-ranges"] == "bytes"

        first = await client.get(url, headers={"range": "bytes=0-99"})
        assert first.status_code == 206
        assert first.headers["content-range"] == f"bytes 0-99/{size}"
        assert first.content == video[:100]

        middle = await client.get(url, headers={"range": "bytes=1000-"})
        assert (middle.status_code, middle.content) == (206, video[1000:])

        suffix = await client.get(url, headers={"range": "bytes=-100"})
        assert suffix.status_code == 206
        assert suffix.headers["content-range"] == f"bytes {size - 100}-{size - 1}/{size}"
        assert suffix.content == video[-100:]

        beyond = await client.get(url, headers={"range": f"bytes={size}-{size + 10}"})
        assert beyond.status_code == 416
        assert beyond.headers["content-range"] == f"bytes */{size}"

        head = await client.head(url)
        assert (head.status_code, head.headers["content-length"]) == (200, str(size))


async def test_media_url_must_be_signed_and_fresh(start_files: StartFiles) -> None:
    files = start_files()
    file_id, _ = await _ready_video(files)
    url = (await entity(files, file_id, viewerCanWatch=True))["playbackUrl"]
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    async with httpx.AsyncClient() as client:
        for change in ({"expires": str(int(query["expires"]) + 60)}, {"signature": "ab" * 32}):
            forged = urlunsplit(parts._replace(query=urlencode({**query, **change})))
            assert (await client.get(forged)).status_code == 403
        bare = urlunsplit(parts._replace(query=""))
        assert (await client.get(bare)).status_code == 403
    short = start_files(playback_url_ttl_seconds=-1)
    stale = (await entity(short, file_id, viewerCanWatch=True))["playbackUrl"]
    async with httpx.AsyncClient() as client:
        response = await client.get(stale)
    assert (response.status_code, response.text) == (403, "The URL has expired.")
