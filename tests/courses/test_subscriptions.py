"""`lectureVideoUpdated` over courses' own WebSocket: the teacher watches a real upload go
UPLOADING → PROCESSING → READY (files processes it and tells courses); who may watch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from coursegraph.live import LiveFeed
from coursegraph.settings import Settings
from subgraphs.courses.settings import CoursesSettings
from tests.courses.api import (
    People,
    UploadStack,
    add_lecture,
    add_section,
    confirm_upload,
    create_course,
    initiate_upload,
)
from tests.courses.conftest import running_upload_stack
from tests.files.media import make_mp4
from tests.helpers import graphql_socket
from tests.payments.conftest import eventually

WATCH = """
subscription($id: ID!) { lectureVideoUpdated(lectureId: $id) { id videoStatus durationSeconds } }
"""


@pytest.fixture(scope="module")
def live_stack(
    courses_settings: Settings,
    courses_section: CoursesSettings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[UploadStack]:
    storage_dir = tmp_path_factory.mktemp("files-storage-live")
    with running_upload_stack(courses_settings, courses_section, storage_dir=storage_dir) as stack:
        yield stack


@pytest.fixture
def stack(live_stack: UploadStack, clean_database: None) -> UploadStack:
    return live_stack


def _feed(stack: UploadStack) -> LiveFeed:
    assert stack.courses_app is not None
    feed: LiveFeed = stack.courses_app.state.container.live
    return feed


async def _lecture(stack: UploadStack, people: People) -> tuple[str, str]:
    teacher = people.make("TEACHER")
    url = stack.courses_url
    course = await create_course(url, teacher, "Live course")
    section = await add_section(url, teacher, course["id"])
    lecture = await add_lecture(url, teacher, section["id"], "Lesson one")
    return teacher.token, lecture["id"]


async def test_the_teacher_watches_the_video_become_ready(
    stack: UploadStack, people: People
) -> None:
    url = stack.courses_url
    teacher = people.make("TEACHER")
    course = await create_course(url, teacher, "Live course")
    section = await add_section(url, teacher, course["id"])
    lecture_id = (await add_lecture(url, teacher, section["id"], "Lesson one"))["id"]
    async with graphql_socket(url, token=teacher.token) as socket:
        await socket.subscribe("1", WATCH, {"id": lecture_id})
        first = (await socket.next_data("1"))["lectureVideoUpdated"]
        assert first == {"id": lecture_id, "videoStatus": "NONE", "durationSeconds": None}

        video = make_mp4(7.0, media_bytes=4096)
        ticket = (await initiate_upload(url, teacher, lecture_id, file_size=len(video))).ok()
        ticket = ticket["initiateLectureUpload"]
        assert (await socket.next_data("1"))["lectureVideoUpdated"]["videoStatus"] == "UPLOADING"
        headers = {h["name"]: h["value"] for h in ticket["headers"]}
        async with httpx.AsyncClient(timeout=30) as client:
            put = await client.put(ticket["uploadUrl"], content=video, headers=headers)
        assert put.status_code == 200
        (await confirm_upload(url, teacher, lecture_id, ticket["fileId"])).ok()

        seen: list[dict[str, Any]] = []
        while not seen or seen[-1]["videoStatus"] not in ("READY", "FAILED"):
            seen.append((await socket.next_data("1"))["lectureVideoUpdated"])
        # Files' worker may report READY before courses commits PROCESSING (courses then
        # keeps READY and never announces PROCESSING); otherwise PROCESSING comes first.
        assert [s["videoStatus"] for s in seen] in (["PROCESSING", "READY"], ["READY"])
        assert seen[-1]["durationSeconds"] == 7
        assert _feed(stack).subscriber_count == 1
    await eventually(lambda: _feed(stack).subscriber_count == 0)


async def test_who_may_watch_a_lecture_video(stack: UploadStack, people: People) -> None:
    url = stack.courses_url
    _, lecture_id = await _lecture(stack, people)
    variables = {"id": lecture_id}
    for person, code in (
        (people.make(), "FORBIDDEN"),  # students manage no course
        # Another teacher: the draft does not exist for them (published: FORBIDDEN).
        (people.make("TEACHER"), "NOT_FOUND"),
    ):
        async with graphql_socket(url, token=person.token) as socket:
            await socket.subscribe("1", WATCH, variables)
            assert await socket.error_codes("1") == [code]
    async with graphql_socket(url, token=people.make("ADMIN").token) as socket:
        await socket.subscribe("1", WATCH, variables)
        assert (await socket.next_data("1"))["lectureVideoUpdated"]["videoStatus"] == "NONE"
        await socket.subscribe("2", WATCH, {"id": "00000000-0000-0000-0000-000000000000"})
        assert await socket.error_codes("2") == ["NOT_FOUND"]
    await eventually(lambda: _feed(stack).subscriber_count == 0)
