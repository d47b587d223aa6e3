"""The upload flow with the local backends: ticket, PUT to files itself, confirm, READY,
and courses told through the outbox. Also every way an upload is refused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx

from tests.files.flow import CREATE, DELETE, GET, confirm, create_upload, put, wait_for_status
from tests.files.media import make_mp4, make_webm
from tests.files.servers import FakeCourses, StartFiles


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


async def test_upload_confirm_ready_and_courses_told(
    start_files: StartFiles, courses: FakeCourses
) -> None:
    files = start_files()
    video = make_mp4(93.6)
    ticket = await create_upload(files, len(video), name="../../etc/Intro\x7f lecture.mp4")
    assert ticket["method"] == "PUT"
    assert ticket["headers"] == [{"name": "Content-Type", "value": "video/mp4"}]
    assert ticket["uploadUrl"].startswith(f"{files.url}/storage/uploads/{ticket['fileId']}?")

    assert (await put(ticket, video)).status_code == 200
    confirmed = await confirm(files, ticket["fileId"])
    assert confirmed["status"] == "PROCESSING"
    assert confirmed["sizeBytes"] == len(video)

    ready = await wait_for_status(files, ticket["fileId"])
    assert ready["status"] == "READY"
    assert ready["durationSeconds"] == 93.6
    calls = await courses.wait_for_calls(1)
    assert calls == [{"fileId": ticket["fileId"], "status": "READY", "durationSeconds": 94}]
    assert courses.refused == []

    # Confirming again answers the same; the stored object can no longer be replaced.
    assert (await confirm(files, ticket["fileId"]))["status"] == "READY"
    assert (await put(ticket, video)).status_code == 409


async def test_file_name_is_sanitised(start_files: StartFiles) -> None:
    files = start_files()
    ticket = await create_upload(files, 10, name="../../etc/In<tro>\x7f lecture.mp4")
    entity = await files.call(
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on File { fileName } } }",
        {"r": [{"__typename": "File", "id": ticket["fileId"]}]},
        service="router",
    )
    assert entity.ok()["_entities"] == [{"fileName": "In_tro_ lecture.mp4"}]


async def test_webm_is_processed(start_files: StartFiles) -> None:
    files = start_files()
    video = make_webm(7.25)
    ticket = await create_upload(files, len(video), "video/webm", "clip.webm")
    assert (await put(ticket, video)).status_code == 200
    await confirm(files, ticket["fileId"])
    ready = await wait_for_status(files, ticket["fileId"])
    assert (ready["status"], ready["durationSeconds"]) == ("READY", 7.25)


async def test_a_file_that_is_not_a_video_fails_and_courses_hears_it(
    start_files: StartFiles, courses: FakeCourses
) -> None:
    files = start_files()
    junk = b"MZ this is an executable, not a video" * 10
    ticket = await create_upload(files, len(junk))
    assert (await put(ticket, junk)).status_code == 200
    await confirm(files, ticket["fileId"])
    failed = await wait_for_status(files, ticket["fileId"])
    assert failed["status"] == "FAILED"
    assert "not an MP4" in failed["failureReason"]
    calls = await courses.wait_for_calls(1)
    assert calls == [{"fileId": ticket["fileId"], "status": "FAILED", "durationSeconds": None}]


async def test_create_upload_validates_its_input(start_files: StartFiles) -> None:
    files = start_files(max_upload_bytes=1000)
    base = {"owner": "l1", "purpose": "lecture_video", "name": "a.mp4", "size": 10}
    cases: list[tuple[dict[str, object], str]] = [
        ({"type": "application/x-msdownload"}, "contentType"),
        ({"type": "video/mp4", "size": 1001}, "sizeBytes"),
        ({"type": "video/mp4", "size": 0}, "sizeBytes"),
        ({"type": "video/mp4", "size": 10.5}, "sizeBytes"),
        ({"type": "video/mp4", "purpose": "avatar"}, "purpose"),
    ]
    for change, field in cases:
        result = await files.call(CREATE, {**base, **change})
        assert result.code == "BAD_USER_INPUT", change
        assert result.errors[0]["extensions"]["field"] == field
    # Sizes past 2^31 are fine below the limit (the contract's Float).
    big = start_files(max_upload_bytes=10 * 1024**3)
    ticket = await create_upload(big, 6 * 1024**3)
    assert ticket["fileId"]


async def test_internal_fields_refuse_other_callers(start_files: StartFiles) -> None:
    files = start_files()
    variables = {"owner": "l", "purpose": "lecture_video", "name": "a", "size": 1, "type": "x"}
    assert (await files.call(CREATE, variables, service="payments")).code == "FORBIDDEN"
    async with httpx.AsyncClient() as client:
        response = await client.post(files.graphql, json={"query": GET, "variables": {"id": "x"}})
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_wrong_size_is_refused(start_files: StartFiles) -> None:
    files = start_files()
    video = make_mp4(3.0)
    ticket = await create_upload(files, len(video))
    larger = await put(ticket, video + b"extra")
    assert larger.status_code == 413
    smaller = await put(ticket, video[:-1])
    assert smaller.status_code == 400

    async def stream() -> AsyncIterator[bytes]:
        # No Content-Length: the size is enforced while the body streams in.
        yield video
        yield b"more than announced"

    async with httpx.AsyncClient() as client:
        chunked = await client.put(
            ticket["uploadUrl"], content=stream(), headers={"content-type": "video/mp4"}
        )
    assert chunked.status_code == 413
    # Nothing was stored by any of these, so confirming fails with a reason.
    failed = await confirm(files, ticket["fileId"])
    assert (failed["status"], failed["failureReason"]) == ("FAILED", "The upload was not received.")


async def test_wrong_type_is_refused(start_files: StartFiles) -> None:
    files = start_files()
    ticket = await create_upload(files, 10)
    response = await put(ticket, b"0123456789", **{"Content-Type": "video/webm"})
    assert response.status_code == 415


async def test_expired_or_tampered_upload_url_is_refused(start_files: StartFiles) -> None:
    files = start_files(upload_url_ttl_seconds=1)
    ticket = await create_upload(files, 10)
    url = ticket["uploadUrl"]
    for tampered in (
        _with_query(url, size="11"),
        _with_query(url, type="video/webm"),
        _with_query(url, expires=str(int(time.time()) + 3600)),
        _with_query(url, signature="0" * 64),
        url.replace(ticket["fileId"], "00000000-0000-4000-8000-000000000000"),
    ):
        response = await put({**ticket, "uploadUrl": tampered}, b"0123456789")
        assert response.status_code == 403, tampered
    traversal = f"{files.url}/storage/uploads/..%2F..%2Fetc%2Fpasswd?" + urlsplit(url).query
    assert (await put({**ticket, "uploadUrl": traversal}, b"0123456789")).status_code == 404

    await asyncio.sleep(2.1)  # past the one-second expiry
    expired = await put(ticket, b"0123456789")
    assert (expired.status_code, expired.text) == (403, "The URL has expired.")


async def test_delete_removes_the_file(start_files: StartFiles) -> None:
    files = start_files()
    video = make_mp4(1.0)
    ticket = await create_upload(files, len(video))
    await put(ticket, video)
    stored = files.section.storage_dir
    assert stored is not None
    assert any(p.name == ticket["fileId"] for p in stored.rglob("*"))
    assert (await files.call(DELETE, {"id": ticket["fileId"]})).ok()["deleteFile"] is True
    assert not any(p.name == ticket["fileId"] for p in stored.rglob("*"))
    assert (await files.call(GET, {"id": ticket["fileId"]})).ok()["internalFile"] is None
    assert (await files.call(DELETE, {"id": ticket["fileId"]})).ok()["deleteFile"] is False
    missing = await files.call('mutation { confirmUpload(fileId: "nope") { id } }')
    assert missing.code == "NOT_FOUND"
