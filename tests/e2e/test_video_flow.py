"""Flow 2: a teacher uploads a lecture video → confirm → processing → READY; an enrolled
student gets a playback URL that streams; a visitor and a stranger get none."""

from __future__ import annotations

import httpx

from tests.e2e.client import Api
from tests.e2e.scenario import published_course, upload_lecture_video


async def test_upload_process_and_stream(api: Api) -> None:
    teacher = await api.sign_up("TEACHER")
    course = await published_course(api, teacher)
    lecture_id = course.lecture_ids[0]
    video = await upload_lecture_video(api, teacher, lecture_id, seconds=12.0)

    student = await api.sign_up()
    enrolled = (await api.data("Enroll", {"courseId": course.id}, token=student.token))["enroll"]
    assert enrolled["status"] == "ACTIVE"
    lecture = (await api.data("Lecture", {"id": lecture_id}, token=student.token))["lecture"]
    assert lecture["videoStatus"] == "READY"
    assert lecture["durationSeconds"] == 12
    assert lecture["video"]["status"] == "READY"
    assert lecture["video"]["durationSeconds"] == 12.0
    assert lecture["course"]["viewerEnrollment"]["status"] == "ACTIVE"
    playback_url = lecture["video"]["playbackUrl"]
    assert playback_url

    # A player seeks: the signed URL answers byte ranges.
    async with httpx.AsyncClient(timeout=30) as client:
        part = await client.get(playback_url, headers={"Range": "bytes=100-1123"})
        whole = await client.get(playback_url)
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-1123/{len(video)}"
    assert part.content == video[100:1124]
    assert whole.status_code == 200
    assert whole.content == video

    visitor = (await api.data("Lecture", {"id": lecture_id}))["lecture"]
    assert visitor["videoStatus"] == "READY"
    assert visitor["video"]["playbackUrl"] is None
    stranger = await api.sign_up()
    seen = (await api.data("Lecture", {"id": lecture_id}, token=stranger.token))["lecture"]
    assert seen["video"]["playbackUrl"] is None
    assert seen["course"]["viewerEnrollment"] is None
