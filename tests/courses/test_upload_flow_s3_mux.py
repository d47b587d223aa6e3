"""The lecture upload flow of test_upload_flow, with files on its production adapters:
S3 storage (real boto3 against moto in server mode) and Mux processing (real `mux-python`
against the stand-in in tests/files/fake_mux.py). Real courses + files + users over HTTP.

The stand-in does what Mux does with a new asset: it downloads the input URL files gave
it (a presigned S3 GET), reads the video, and reports `video.asset.ready` with a duration
and playback id to files' `/webhooks/mux`, signed with the webhook secret. Files' outbox
then tells courses (`recordVideoStatus`).

Playback is Mux's HLS stream on stream.mux.com, which cannot be fetched offline; the test
verifies the signed playback token instead, and shows the stored object Mux ingests is
served by S3 with HTTP Range.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from coursegraph.settings import Settings
from coursegraph.testing import ServerThread
from subgraphs.courses.settings import CoursesSettings
from tests.courses.api import (
    PUBLISH,
    People,
    Person,
    UploadStack,
    add_lecture,
    add_section,
    can_watch,
    confirm_upload,
    create_course,
    enroll,
    initiate_upload,
    lecture_video,
    wait_until_settled,
    watch_as_router,
)
from tests.courses.conftest import running_upload_stack
from tests.files.fake_mux import FakeMux, Ingested, mux_settings
from tests.files.media import make_mp4
from tests.files.servers import S3_BUCKET, moto_s3, s3_client, s3_settings
from tests.helpers import gql

SIGNING_KEY_ID = "coursegraph-test-signing-key"
UPLOAD_URL_TTL = 600
PLAYBACK_URL_TTL = 600


@dataclass
class S3MuxStack:
    stack: UploadStack
    s3_url: str
    mux: FakeMux
    playback_public_key: RSAPublicKey


@pytest.fixture(scope="module")
def s3_mux_servers(
    courses_settings: Settings, courses_section: CoursesSettings
) -> Iterator[S3MuxStack]:
    # Per module, like `upload_servers`: this files server's worker must be gone before
    # other files servers share the database.
    signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = signing_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    mux = FakeMux()
    with (
        moto_s3(S3_BUCKET) as s3_url,
        ServerThread(mux.app()) as mux_server,
        running_upload_stack(
            courses_settings,
            courses_section,
            **s3_settings(s3_url, S3_BUCKET),
            **mux_settings(mux_server.url, pem, signing_key_id=SIGNING_KEY_ID),
            upload_url_ttl_seconds=UPLOAD_URL_TTL,
            playback_url_ttl_seconds=PLAYBACK_URL_TTL,
        ) as stack,
    ):
        yield S3MuxStack(stack, s3_url, mux, signing_key.public_key())


@pytest.fixture
def s3_mux(s3_mux_servers: S3MuxStack, clean_database: None) -> S3MuxStack:
    mux = s3_mux_servers.mux
    mux.reset()
    mux.webhook_url = f"{s3_mux_servers.stack.files.url}/webhooks/mux"
    return s3_mux_servers


async def _lecture(url: str, teacher: Person) -> tuple[str, str]:
    """A published course of `teacher` with one lecture: (course id, lecture id)."""
    course = await create_course(url, teacher, "Video course")
    section = await add_section(url, teacher, course["id"])
    lecture_id = (await add_lecture(url, teacher, section["id"], "Lesson one"))["id"]
    (await gql(url, PUBLISH, {"id": course["id"]}, token=teacher.token)).ok()
    return course["id"], lecture_id


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _origin_and_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _settled_message(env: S3MuxStack) -> str:
    mux = env.mux
    fetched = [(i.asset_id, i.status_code, i.content_type, i.size) for i in mux.ingested]
    return f"Mux stand-in: fetched {fetched}, delivered {mux.deliveries}, broke {mux.failures}"


async def test_upload_to_s3_processed_by_mux_and_played_with_a_signed_token(
    s3_mux: S3MuxStack, people: People
) -> None:
    stack, mux = s3_mux.stack, s3_mux.mux
    url = stack.courses_url
    teacher = people.make("TEACHER")
    course_id, lecture_id = await _lecture(url, teacher)

    # 1. The teacher asks courses for a ticket; files presigns an S3 PUT.
    video = make_mp4(42.4, media_bytes=16384)
    initiated = await initiate_upload(url, teacher, lecture_id, file_size=len(video))
    ticket = initiated.ok()["initiateLectureUpload"]
    file_id = ticket["fileId"]
    assert ticket["method"] == "PUT"
    assert ticket["headers"] == [{"name": "Content-Type", "value": "video/mp4"}]
    # moto checks no signatures, so the URL's own conditions are asserted: SigV4, a short
    # expiry, and the type and size signed (S3 refuses any other body).
    assert _origin_and_path(ticket["uploadUrl"]) == f"{s3_mux.s3_url}/{S3_BUCKET}/{file_id}"
    signed = _query(ticket["uploadUrl"])
    assert signed["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert signed["X-Amz-Expires"] in (str(UPLOAD_URL_TTL - 1), str(UPLOAD_URL_TTL))
    assert signed["X-Amz-SignedHeaders"] == "content-length;content-type;host"
    assert signed["X-Amz-Credential"].startswith("test/")
    assert "X-Amz-Signature" in signed
    assert (await lecture_video(url, teacher, lecture_id))["videoStatus"] == "UPLOADING"

    # 2. The bytes go straight to S3, with the ticket's headers.
    headers = {h["name"]: h["value"] for h in ticket["headers"]}
    async with httpx.AsyncClient(timeout=30) as client:
        uploaded = await client.request(
            ticket["method"], ticket["uploadUrl"], content=video, headers=headers
        )
    assert uploaded.status_code == 200
    s3 = s3_client(s3_mux.s3_url)
    stored = s3.head_object(Bucket=S3_BUCKET, Key=file_id)
    s3.close()
    assert (stored["ContentLength"], stored["ContentType"]) == (len(video), "video/mp4")

    # 3. Confirmation: files HEADs the object and hands it to Mux. (The webhook may land
    # before courses commits PROCESSING; courses then keeps READY.)
    confirmed = (await confirm_upload(url, teacher, lecture_id, file_id)).ok()
    assert confirmed["confirmLectureUpload"]["videoStatus"] in ("PROCESSING", "READY")
    assert confirmed["confirmLectureUpload"]["video"] == {"id": file_id}

    # 4. Mux ingests, its signed webhook reaches files, files' outbox reaches courses.
    try:
        settled = await wait_until_settled(url, teacher, lecture_id)
    except AssertionError as error:
        raise AssertionError(f"{error}; {_settled_message(s3_mux)}") from None
    assert settled == {
        "id": lecture_id,
        "videoStatus": "READY",
        "durationSeconds": 42,  # Mux said 42.4; courses keeps whole seconds
        "video": {"id": file_id},
    }

    # What files asked of Mux: a signed-playback asset from a presigned S3 GET of the
    # object (SigV4, only the host signed, hours of validity for Mux's ingest queue).
    [request] = mux.created
    assert request["playback_policies"] == ["signed"]
    assert request["passthrough"] == file_id
    input_url = request["inputs"][0]["url"]
    assert _origin_and_path(input_url) == f"{s3_mux.s3_url}/{S3_BUCKET}/{file_id}"
    input_query = _query(input_url)
    assert input_query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert input_query["X-Amz-SignedHeaders"] == "host"
    assert 5 * 3600 < int(input_query["X-Amz-Expires"]) <= 6 * 3600
    # The stand-in fetched exactly the uploaded bytes through it, and files took the
    # signed webhook.
    assert mux.ingested == [Ingested("asset1", input_url, 200, "video/mp4", video)]
    assert await mux.wait_for_deliveries(1) == [("video.asset.ready", 200)]
    assert mux.failures == []

    # 5. Playback: courses decides who may watch, files signs Mux playback for them.
    student, outsider = people.make(), people.make()
    (await enroll(url, student, course_id)).ok()
    assert await can_watch(url, student, file_id) == [True]
    assert await can_watch(url, outsider, file_id) == [False]

    for nobody in (outsider, None):
        view = await watch_as_router(stack, nobody, file_id)
        assert (view["playbackUrl"], view["thumbnailUrl"]) == (None, None)

    watched = await watch_as_router(stack, student, file_id)
    assert (watched["status"], watched["durationSeconds"]) == ("READY", 42.4)
    assert watched["sizeBytes"] == len(video)
    assert _origin_and_path(watched["playbackUrl"]) == "https://stream.mux.com/play1.m3u8"
    assert _origin_and_path(watched["thumbnailUrl"]) == (
        "https://image.mux.com/play1/thumbnail.jpg"
    )
    for signed_url, audience in ((watched["playbackUrl"], "v"), (watched["thumbnailUrl"], "t")):
        token = _query(signed_url)["token"]
        assert jwt.get_unverified_header(token) == {
            "alg": "RS256",
            "kid": SIGNING_KEY_ID,
            "typ": "JWT",
        }
        claims: dict[str, Any] = jwt.decode(
            token, s3_mux.playback_public_key, algorithms=["RS256"], audience=audience
        )
        assert claims["sub"] == "play1"
        assert PLAYBACK_URL_TTL - 10 <= claims["exp"] - time.time() <= PLAYBACK_URL_TTL + 1
        # A token for the video is not one for the thumbnail (and vice versa).
        other = "t" if audience == "v" else "v"
        with pytest.raises(jwt.InvalidAudienceError):
            jwt.decode(token, s3_mux.playback_public_key, algorithms=["RS256"], audience=other)

    # 6. The stream itself is Mux's (not reachable offline). The object behind it, which
    # Mux ingests through the presigned GET, is served by S3 with Range (seekable).
    async with httpx.AsyncClient(timeout=30) as client:
        part = await client.get(input_url, headers={"range": "bytes=100-1123"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-1123/{len(video)}"
    assert part.content == video[100:1124]


async def test_a_video_mux_cannot_read_fails_the_lecture(
    s3_mux: S3MuxStack, people: People
) -> None:
    url = s3_mux.stack.courses_url
    teacher = people.make("TEACHER")
    _, lecture_id = await _lecture(url, teacher)
    junk = b"definitely not a video" * 100
    ticket = (await initiate_upload(url, teacher, lecture_id, file_size=len(junk))).ok()
    ticket = ticket["initiateLectureUpload"]
    headers = {h["name"]: h["value"] for h in ticket["headers"]}
    async with httpx.AsyncClient(timeout=30) as client:
        uploaded = await client.put(ticket["uploadUrl"], content=junk, headers=headers)
    assert uploaded.status_code == 200
    (await confirm_upload(url, teacher, lecture_id, ticket["fileId"])).ok()
    settled = await wait_until_settled(url, teacher, lecture_id)
    assert (settled["videoStatus"], settled["durationSeconds"]) == ("FAILED", None)
    assert await s3_mux.mux.wait_for_deliveries(1) == [("video.asset.errored", 200)]
