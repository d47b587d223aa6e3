"""Steps several flows share, each done the way the apps do it: through the router with
the client operations, and to the upload URL or the provider as the client would."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from typing import Any

import httpx

from tests.e2e.client import Account, Api, eventually
from tests.files.media import make_mp4


@dataclass(frozen=True)
class Course:
    id: str
    slug: str
    title: str
    lecture_ids: list[str]


def unique_word() -> str:
    """A word no other course contains, so a full-text search finds only this test's."""
    return "".join(random.choices(string.ascii_lowercase, k=12))


async def published_course(
    api: Api,
    teacher: Account,
    *,
    price: dict[str, str] | None = None,
    title: str | None = None,
    lectures: int = 1,
) -> Course:
    """A teacher's studio session: create, one section, lectures, publish."""
    name = title or f"Course {unique_word()}"
    created = (
        await api.data(
            "CreateCourse",
            {"input": {"title": name, "description": "End-to-end test course", "price": price}},
            token=teacher.token,
        )
    )["createCourse"]
    section = (
        await api.data(
            "AddSection", {"courseId": created["id"], "title": "Basics"}, token=teacher.token
        )
    )["addSection"]
    lecture_ids = []
    for number in range(1, lectures + 1):
        lecture = (
            await api.data(
                "AddLecture",
                {"sectionId": section["id"], "input": {"title": f"Lecture {number}"}},
                token=teacher.token,
            )
        )["addLecture"]
        lecture_ids.append(lecture["id"])
    published = (await api.data("PublishCourse", {"id": created["id"]}, token=teacher.token))[
        "publishCourse"
    ]
    assert published["status"] == "PUBLISHED"
    return Course(created["id"], created["slug"], name, lecture_ids)


async def settle_sandbox(checkout: dict[str, Any], outcome: str = "succeeded") -> dict[str, Any]:
    """What the sandbox page's Pay button does: POST the outcome, get the proof back."""
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(checkout["sandboxUrl"], json={"outcome": outcome})
    assert response.status_code == 200, response.text
    proof: dict[str, Any] = response.json()
    return proof


async def upload_lecture_video(
    api: Api, teacher: Account, lecture_id: str, *, seconds: float = 12.0
) -> bytes:
    """Initiate, PUT the bytes to the upload URL, confirm, and wait until READY."""
    video = make_mp4(seconds, media_bytes=64 * 1024)
    ticket = (
        await api.data(
            "InitiateLectureUpload",
            {
                "lectureId": lecture_id,
                "input": {
                    "fileName": "intro.mp4",
                    "fileSize": len(video),
                    "contentType": "video/mp4",
                },
            },
            token=teacher.token,
        )
    )["initiateLectureUpload"]
    headers = {h["name"]: h["value"] for h in ticket["headers"]}
    async with httpx.AsyncClient(timeout=30) as client:
        uploaded = await client.request(
            ticket["method"], ticket["uploadUrl"], content=video, headers=headers
        )
    assert uploaded.status_code in (200, 201, 204), uploaded.text
    confirmed = (
        await api.data(
            "ConfirmLectureUpload",
            {"lectureId": lecture_id, "fileId": ticket["fileId"]},
            token=teacher.token,
        )
    )["confirmLectureUpload"]
    assert confirmed["videoStatus"] in ("PROCESSING", "READY"), confirmed
    assert confirmed["video"]["id"] == ticket["fileId"]

    async def video_status() -> str:
        lecture = (await api.data("Lecture", {"id": lecture_id}, token=teacher.token))["lecture"]
        return str(lecture["videoStatus"])

    # The worker polls every 0.2 s and files reports READY to courses through its outbox.
    await eventually(video_status, lambda status: status in ("READY", "FAILED"), within=30)
    assert await video_status() == "READY"
    return video
