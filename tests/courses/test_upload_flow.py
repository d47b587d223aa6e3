"""End to end over HTTP, real courses + files + users: a teacher uploads a lecture video,
files processes it and tells courses, and an enrolled student streams it. No router: the
test makes the two `_entities` calls a router's plan makes for `lecture { video {
playbackUrl } }` (courses' `viewerCanWatch`, then files' `playbackUrl` that requires it)."""

from __future__ import annotations

import httpx

from tests.courses.api import (
    PUBLISH,
    People,
    UploadStack,
    add_lecture,
    add_section,
    can_watch,
    confirm_upload,
    create_course,
    enroll,
    file_as_router,
    initiate_upload,
    lecture_video,
    wait_until_settled,
)
from tests.files.media import make_mp4
from tests.helpers import gql


async def test_upload_process_and_stream_a_lecture_video(
    upload_stack: UploadStack, people: People
) -> None:
    url = upload_stack.courses_url
    teacher = people.make("TEACHER")
    course = await create_course(url, teacher, "Video course")
    section = await add_section(url, teacher, course["id"])
    lecture_id = (await add_lecture(url, teacher, section["id"], "Lesson one"))["id"]
    (await gql(url, PUBLISH, {"id": course["id"]}, token=teacher.token)).ok()

    # 1. The teacher asks courses for a ticket.
    video = make_mp4(42.0, media_bytes=16384)
    initiated = await initiate_upload(
        url, teacher, lecture_id, file_size=len(video), file_name="C:\\clips\\Lesson\t1.mp4"
    )
    ticket = initiated.ok()["initiateLectureUpload"]
    file_id = ticket["fileId"]
    assert ticket["method"] == "PUT"
    assert ticket["uploadUrl"].startswith(f"{upload_stack.files.url}/storage/uploads/")
    assert ticket["headers"] == [{"name": "Content-Type", "value": "video/mp4"}]
    assert (await lecture_video(url, teacher, lecture_id))["videoStatus"] == "UPLOADING"

    # 2. The bytes go straight to files, with the ticket's headers.
    headers = {h["name"]: h["value"] for h in ticket["headers"]}
    async with httpx.AsyncClient(timeout=30) as client:
        uploaded = await client.request(
            ticket["method"], ticket["uploadUrl"], content=video, headers=headers
        )
    assert uploaded.status_code == 200

    # 3. Confirmation starts processing. (Files' worker may report READY before courses
    # commits PROCESSING; courses then keeps READY.)
    confirmed = (await confirm_upload(url, teacher, lecture_id, file_id)).ok()
    assert confirmed["confirmLectureUpload"]["videoStatus"] in ("PROCESSING", "READY")
    assert confirmed["confirmLectureUpload"]["video"] == {"id": file_id}

    # 4. Files probes the video and its outbox tells courses (`recordVideoStatus`).
    settled = await wait_until_settled(url, teacher, lecture_id)
    assert settled == {
        "id": lecture_id,
        "videoStatus": "READY",
        "durationSeconds": 42,
        "video": {"id": file_id},
    }
    # Confirming again changes nothing (and never takes READY back to PROCESSING).
    again = (await confirm_upload(url, teacher, lecture_id, file_id)).ok()
    assert again["confirmLectureUpload"]["videoStatus"] == "READY"

    # 5. Playback: courses decides who may watch, files signs the URL for them.
    student, outsider = people.make(), people.make()
    (await enroll(url, student, course["id"])).ok()
    assert await can_watch(url, student, file_id) == [True]
    assert await can_watch(url, outsider, file_id) == [False]

    stranger_view = await file_as_router(upload_stack, file_id, viewer_can_watch=False)
    assert stranger_view["playbackUrl"] is None
    student_view = await file_as_router(upload_stack, file_id, viewer_can_watch=True)
    assert student_view["fileName"] == "Lesson 1.mp4"
    assert (student_view["status"], student_view["durationSeconds"]) == ("READY", 42.0)
    assert student_view["sizeBytes"] == len(video)
    async with httpx.AsyncClient(timeout=30) as client:
        part = await client.get(student_view["playbackUrl"], headers={"range": "bytes=100-1123"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-1123/{len(video)}"
    assert part.headers["content-type"] == "video/mp4"
    assert part.content == video[100:1124]


async def test_a_video_that_is_not_one_fails(upload_stack: UploadStack, people: People) -> None:
    url = upload_stack.courses_url
    teacher = people.make("TEACHER")
    course = await create_course(url, teacher)
    section = await add_section(url, teacher, course["id"])
    lecture_id = (await add_lecture(url, teacher, section["id"]))["id"]
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
