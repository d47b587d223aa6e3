"""Mux processing with the real `mux-python` SDK against a local stand-in of Mux's API:
asset creation from the stored object, signed webhooks, signed playback tokens."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from coursegraph.testing import ServerThread
from subgraphs.files.processing.mux import WebhookRejected, verify_webhook
from tests.files.fake_mux import (
    WEBHOOK_SECRET,
    FakeMux,
    mux_settings,
    mux_signature,
    ready_event,
)
from tests.files.flow import DELETE, GET, confirm, create_upload, entity, put, wait_for_status
from tests.files.media import make_mp4
from tests.files.servers import FakeCourses, FilesServer, StartFiles

PRIVATE_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = PRIVATE_KEY.private_bytes(
    serialization.Encoding.PEM,
    serialization.PrivateFormat.TraditionalOpenSSL,
    serialization.NoEncryption(),
)


@pytest.fixture(scope="module")
def mux() -> Iterator[tuple[FakeMux, str]]:
    fake = FakeMux()
    with ServerThread(fake.app()) as server:
        yield fake, server.url


@pytest.fixture
def mux_files(start_files: StartFiles, mux: tuple[FakeMux, str]) -> FilesServer:
    fake, url = mux
    fake.reset()
    return start_files(**mux_settings(url, PEM), playback_url_ttl_seconds=600)


async def _webhook(files: FilesServer, event: dict[str, Any], **sign: Any) -> httpx.Response:
    body = json.dumps(event).encode()
    headers = {"content-type": "application/json"}
    if sign.pop("signed", True):
        headers["mux-signature"] = mux_signature(body, **sign)
    async with httpx.AsyncClient() as client:
        return await client.post(f"{files.url}/webhooks/mux", content=body, headers=headers)


async def _submitted(files: FilesServer, fake: FakeMux, video: bytes) -> str:
    ticket = await create_upload(files, len(video))
    assert (await put(ticket, video)).status_code == 200
    assert (await confirm(files, ticket["fileId"]))["status"] == "PROCESSING"
    deadline = time.monotonic() + 10
    while not any(c.get("passthrough") == ticket["fileId"] for c in fake.created):
        assert time.monotonic() < deadline, "Mux was never asked to create an asset"
        await asyncio.sleep(0.05)
    return str(ticket["fileId"])


async def test_asset_is_created_from_the_stored_object(
    mux_files: FilesServer, mux: tuple[FakeMux, str]
) -> None:
    fake, _ = mux
    video = make_mp4(12.0)
    file_id = await _submitted(mux_files, fake, video)
    request = fake.created[-1]
    assert request["playback_policies"] == ["signed"]
    assert request["passthrough"] == file_id
    expected = "Basic " + base64.b64encode(b"token-id:token-secret").decode()
    assert fake.authorizations[-1] == expected
    # Mux pulls the original through a signed, expiring URL that files serves.
    input_url = request["inputs"][0]["url"]
    assert input_url.startswith(f"{mux_files.url}/media/{file_id}?")
    async with httpx.AsyncClient() as client:
        fetched = await client.get(input_url)
    assert (fetched.status_code, fetched.content) == (200, video)
    # Mux has it now: the worker does not claim it again.
    found = (await mux_files.call(GET, {"id": file_id})).ok()["internalFile"]
    assert found["status"] == "PROCESSING"


async def test_ready_webhook_makes_the_video_playable_for_entitled_viewers(
    mux_files: FilesServer, mux: tuple[FakeMux, str], courses: FakeCourses
) -> None:
    fake, _ = mux
    file_id = await _submitted(mux_files, fake, make_mp4(3.0))
    event = ready_event(f"asset{len(fake.created)}", "playback-xyz", 125.4)
    assert (await _webhook(mux_files, event)).status_code == 200
    ready = await wait_for_status(mux_files, file_id)
    assert (ready["status"], ready["durationSeconds"]) == ("READY", 125.4)
    assert await courses.wait_for_calls(1) == [
        {"fileId": file_id, "status": "READY", "durationSeconds": 125}
    ]
    # Mux retries deliveries: the same event again changes nothing.
    assert (await _webhook(mux_files, event)).status_code == 200

    assert (await entity(mux_files, file_id, viewerCanWatch=False))["playbackUrl"] is None
    watched = await entity(mux_files, file_id, viewerCanWatch=True)
    video_url = urlsplit(watched["playbackUrl"])
    assert f"{video_url.scheme}://{video_url.netloc}{video_url.path}" == (
        "https://stream.mux.com/playback-xyz.m3u8"
    )
    thumb_url = urlsplit(watched["thumbnailUrl"])
    assert thumb_url.path == "/playback-xyz/thumbnail.jpg"
    assert thumb_url.netloc == "image.mux.com"
    public_key = PRIVATE_KEY.public_key()
    for url, audience in ((video_url, "v"), (thumb_url, "t")):
        token = parse_qs(url.query)["token"][0]
        assert jwt.get_unverified_header(token) == {
            "alg": "RS256",
            "kid": "signing-key-1",
            "typ": "JWT",
        }
        claims = jwt.decode(token, public_key, algorithms=["RS256"], audience=audience)
        assert claims["sub"] == "playback-xyz"
        assert 590 <= claims["exp"] - time.time() <= 601
    assert len(courses.calls) == 1


async def test_errored_webhook_fails_the_video(
    mux_files: FilesServer, mux: tuple[FakeMux, str], courses: FakeCourses
) -> None:
    fake, _ = mux
    file_id = await _submitted(mux_files, fake, make_mp4(3.0))
    event = {
        "type": "video.asset.errored",
        "data": {
            "id": f"asset{len(fake.created)}",
            "status": "errored",
            "errors": {"type": "invalid_input", "messages": ["The input file is unsupported"]},
        },
    }
    assert (await _webhook(mux_files, event)).status_code == 200
    failed = await wait_for_status(mux_files, file_id)
    assert failed["status"] == "FAILED"
    assert failed["failureReason"] == (
        "The video could not be processed: The input file is unsupported"
    )
    assert (await courses.wait_for_calls(1))[0]["status"] == "FAILED"


async def test_forged_or_stale_webhooks_are_refused(
    mux_files: FilesServer, mux: tuple[FakeMux, str]
) -> None:
    fake, _ = mux
    file_id = await _submitted(mux_files, fake, make_mp4(3.0))
    event = ready_event(f"asset{len(fake.created)}", "p", 3.0)
    forged = await _webhook(mux_files, event, secret="guessed")
    assert (forged.status_code, forged.text) == (400, "bad Mux webhook signature")
    stale = await _webhook(mux_files, event, at=int(time.time()) - 301)
    assert (stale.status_code, stale.text) == (400, "stale Mux webhook")
    unsigned = await _webhook(mux_files, event, signed=False)
    assert unsigned.status_code == 400
    found = (await mux_files.call(GET, {"id": file_id})).ok()["internalFile"]
    assert found["status"] == "PROCESSING"


def test_webhook_signature_is_checked_on_the_raw_body() -> None:
    body = b'{"type": "video.asset.ready"}'
    secret = WEBHOOK_SECRET.encode()
    now = 1_800_000_000
    verify_webhook(mux_signature(body, at=now), body, secret, now=now + 299)
    # Rotation: any one matching v1 signature is enough.
    current = mux_signature(body, at=now).split(",")[1]
    rotated = mux_signature(body, at=now, secret="old") + "," + current
    verify_webhook(rotated, body, secret, now=now)
    for header, message in (
        (mux_signature(body + b" ", at=now), "bad"),
        (mux_signature(body, at=now - 400), "stale"),
        ("v1=abc", "malformed"),
        ("t=abc,v1=abc", "malformed"),
    ):
        with pytest.raises(WebhookRejected, match=message):
            verify_webhook(header, body, secret, now=now)


async def test_refused_asset_fails_and_deletion_removes_the_asset(
    mux_files: FilesServer, mux: tuple[FakeMux, str]
) -> None:
    fake, _ = mux
    file_id = await _submitted(mux_files, fake, make_mp4(3.0))
    asset_id = f"asset{len(fake.created)}"
    assert (await mux_files.call(DELETE, {"id": file_id})).ok()["deleteFile"] is True
    assert fake.deleted == [asset_id]

    fake.refuse_with = 400
    video = make_mp4(2.0)
    ticket = await create_upload(mux_files, len(video))
    await put(ticket, video)
    await confirm(mux_files, ticket["fileId"])
    failed = await wait_for_status(mux_files, ticket["fileId"])
    assert (failed["status"], failed["failureReason"]) == (
        "FAILED",
        "Mux refused the video (400).",
    )
