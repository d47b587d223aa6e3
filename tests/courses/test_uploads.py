"""Lecture uploads against real files and users servers: who may upload, what is accepted,
confirmation, replacement, files being down, and who may watch."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from coursegraph.errors import Conflict, ServiceUnavailable
from coursegraph.identity import Viewer
from subgraphs.courses.bootstrap import CoursesContainer
from subgraphs.courses.clients import FilesClient, UploadTicket
from subgraphs.courses.videos import VideoService, VideoUpload, clean_file_name
from tests.courses.api import (
    PUBLISH,
    People,
    Person,
    add_lecture,
    add_section,
    can_watch,
    confirm_upload,
    create_course,
    enroll,
    initiate_upload,
    lecture_video,
)
from tests.courses.conftest import UploadStack
from tests.files.flow import GET as INTERNAL_FILE
from tests.helpers import gql, signer_for

GIB = 1024**3
NO_VIDEO = {"videoStatus": "NONE", "durationSeconds": None, "video": None}


async def _lecture(
    url: str, teacher: Person, *, publish: bool = False, preview: bool = False
) -> str:
    course = await create_course(url, teacher)
    section = await add_section(url, teacher, course["id"])
    lecture = await add_lecture(url, teacher, section["id"], preview=preview)
    if publish:
        (await gql(url, PUBLISH, {"id": course["id"]}, token=teacher.token)).ok()
    return str(lecture["id"])


async def _course_of(url: str, teacher: Person, lecture_id: str) -> str:
    query = "query($id: ID!) { lecture(id: $id) { course { id } } }"
    result = await gql(url, query, {"id": lecture_id}, token=teacher.token)
    return str(result.ok()["lecture"]["course"]["id"])


async def _internal_file(stack: UploadStack, file_id: str) -> dict[str, object] | None:
    signer = signer_for("courses", stack.settings)
    result = await gql(stack.files_url, INTERNAL_FILE, {"id": file_id}, signer=signer)
    found: dict[str, object] | None = result.ok()["internalFile"]
    return found


def _video_fields(lecture: dict[str, object]) -> dict[str, object]:
    return {k: lecture[k] for k in ("videoStatus", "durationSeconds", "video")}


async def test_only_the_courses_teacher_or_an_admin_may_upload(
    upload_stack: UploadStack, people: People
) -> None:
    url = upload_stack.courses_url
    teacher = people.make("TEACHER")
    lecture_id = await _lecture(url, teacher, publish=True)
    other_teacher = people.make("TEACHER")
    refusals = [
        (None, "UNAUTHENTICATED"),
        (people.make("STUDENT"), "FORBIDDEN"),
        (other_teacher, "FORBIDDEN"),
    ]
    for person, code in refusals:
        assert (await initiate_upload(url, person, lecture_id, file_size=1000)).code == code
        refused = await confirm_upload(url, person, lecture_id, str(uuid.uuid4()))
        assert refused.code == code
    unknown = await initiate_upload(url, teacher, str(uuid.uuid4()), file_size=1000)
    assert unknown.code == "NOT_FOUND"
    assert (await initiate_upload(url, teacher, "not-an-id", file_size=1000)).code == "NOT_FOUND"
    # Another teacher's draft does not exist for them at all.
    draft_lecture = await _lecture(url, teacher)
    hidden = await initiate_upload(url, other_teacher, draft_lecture, file_size=1000)
    assert hidden.code == "NOT_FOUND"
    assert _video_fields(await lecture_video(url, teacher, lecture_id)) == NO_VIDEO

    ticket = (await initiate_upload(url, people.admin(), lecture_id, file_size=1000)).ok()
    assert ticket["initiateLectureUpload"]["method"] == "PUT"


async def test_the_announced_video_is_checked(upload_stack: UploadStack, people: People) -> None:
    url = upload_stack.courses_url
    teacher = people.make("TEACHER")
    lecture_id = await _lecture(url, teacher)
    limit = upload_stack.courses_section.max_video_bytes
    refused: list[dict[str, Any]] = [
        {"content_type": "image/png", "file_size": 1000},
        {"content_type": "video/x-msvideo", "file_size": 1000},
        {"file_size": limit + 1},
        {"file_size": 0},
        {"file_size": -5},
        {"file_size": 10.5},
        {"file_name": "../", "file_size": 1000},
        {"file_name": "\x00\x07", "file_size": 1000},
    ]
    for announced in refused:
        result = await initiate_upload(url, teacher, lecture_id, **announced)
        assert result.code == "BAD_USER_INPUT", announced
    assert _video_fields(await lecture_video(url, teacher, lecture_id)) == NO_VIDEO

    # Sizes past 2^31 are fine (fileSize is a Float), and types are matched loosely.
    big = await initiate_upload(
        url, teacher, lecture_id, file_size=3 * GIB, content_type="Video/QuickTime; codecs=x"
    )
    file_id = big.ok()["initiateLectureUpload"]["fileId"]
    stored = await _internal_file(upload_stack, file_id)
    assert stored is not None
    assert (stored["sizeBytes"], stored["contentType"]) == (3 * GIB, "video/quicktime")


def test_file_names_are_cleaned() -> None:
    assert clean_file_name("C:\\Users\\ada\\Week 1/../intro\x07 .mp4") == "intro .mp4"
    assert clean_file_name("..hidden.webm") == "hidden.webm"
    assert clean_file_name("evil\u202egpj.mp4") == "evilgpj.mp4"  # no right-to-left override
    assert clean_file_name("  lots   of\tspace.mov ") == "lots of space.mov"
    long_name = clean_file_name("x" * 400 + ".mp4")
    assert (len(long_name), long_name[-4:]) == (255, ".mp4")
    assert len(clean_file_name("y" * 400)) == 255


async def test_an_upload_waits_and_a_new_one_replaces_the_old(
    upload_stack: UploadStack, people: People
) -> None:
    url = upload_stack.courses_url
    teacher = people.make("TEACHER")
    lecture_id = await _lecture(url, teacher)
    first = (await initiate_upload(url, teacher, lecture_id, file_size=1000)).ok()
    first_id = first["initiateLectureUpload"]["fileId"]
    assert await lecture_video(url, teacher, lecture_id) == {
        "id": lecture_id,
        "videoStatus": "UPLOADING",
        "durationSeconds": None,
        "video": {"id": first_id},
    }
    stored = await _internal_file(upload_stack, first_id)
    assert stored is not None
    assert stored["status"] == "PENDING_UPLOAD"

    second = (await initiate_upload(url, teacher, lecture_id, file_size=2000)).ok()
    second_id = second["initiateLectureUpload"]["fileId"]
    assert second_id != first_id
    seen = await lecture_video(url, teacher, lecture_id)
    assert (seen["videoStatus"], seen["video"]) == ("UPLOADING", {"id": second_id})
    # The replaced file is gone from files, and nobody may watch it any more.
    assert await _internal_file(upload_stack, first_id) is None
    assert await can_watch(url, teacher, first_id, second_id) == [False, True]


async def test_confirm_needs_the_lectures_current_upload(
    upload_stack: UploadStack, people: People
) -> None:
    url = upload_stack.courses_url
    teacher = people.make("TEACHER")
    lecture_id = await _lecture(url, teacher)
    other_lecture = await _lecture(url, teacher)
    assert (await confirm_upload(url, teacher, lecture_id, str(uuid.uuid4()))).code == (
        "BAD_USER_INPUT"
    )
    own = (await initiate_upload(url, teacher, lecture_id, file_size=1000)).ok()
    foreign = (await initiate_upload(url, teacher, other_lecture, file_size=1000)).ok()
    own_id = own["initiateLectureUpload"]["fileId"]
    foreign_id = foreign["initiateLectureUpload"]["fileId"]
    for file_id in (foreign_id, str(uuid.uuid4()), "junk"):
        result = await confirm_upload(url, teacher, lecture_id, file_id)
        assert result.code == "BAD_USER_INPUT"
    assert (await lecture_video(url, teacher, lecture_id))["videoStatus"] == "UPLOADING"

    # Nothing was uploaded: files fails the file, and the lecture says so; repeats agree.
    for _ in range(2):
        failed = (await confirm_upload(url, teacher, lecture_id, own_id)).ok()
        assert failed["confirmLectureUpload"] == {
            "id": lecture_id,
            "videoStatus": "FAILED",
            "durationSeconds": None,
            "video": {"id": own_id},
        }
    stored = await _internal_file(upload_stack, own_id)
    assert stored is not None
    assert stored["failureReason"] == "The upload was not received."
    # A failed upload is followed by a new one.
    again = await initiate_upload(url, teacher, lecture_id, file_size=1000)
    assert again.ok()["initiateLectureUpload"]["fileId"] != own_id
    assert (await lecture_video(url, teacher, lecture_id))["videoStatus"] == "UPLOADING"


async def test_files_down_changes_nothing(
    upload_stack: UploadStack, people: People, courses_without_files: str
) -> None:
    url = upload_stack.courses_url
    teacher = people.make("TEACHER")
    lecture_id = await _lecture(url, teacher)
    ticket = (await initiate_upload(url, teacher, lecture_id, file_size=1000)).ok()
    file_id = ticket["initiateLectureUpload"]["fileId"]
    before = await lecture_video(url, teacher, lecture_id)

    down = await initiate_upload(courses_without_files, teacher, lecture_id, file_size=5000)
    assert down.code == "SERVICE_UNAVAILABLE"
    assert down.errors[0]["message"] == "The files service is unavailable."
    unconfirmed = await confirm_upload(courses_without_files, teacher, lecture_id, file_id)
    assert unconfirmed.code == "SERVICE_UNAVAILABLE"
    assert await lecture_video(url, teacher, lecture_id) == before
    assert await _internal_file(upload_stack, file_id) is not None


async def test_who_may_watch_a_lecture_video(upload_stack: UploadStack, people: People) -> None:
    url = upload_stack.courses_url
    teacher = people.make("TEACHER")
    lecture_id = await _lecture(url, teacher, publish=True)
    course_id = await _course_of(url, teacher, lecture_id)
    section = await add_section(url, teacher, course_id, "Free sample")
    preview = await add_lecture(url, teacher, section["id"], "Trailer", preview=True)
    files = []
    for lecture in (lecture_id, preview["id"]):
        ticket = (await initiate_upload(url, teacher, lecture, file_size=1000)).ok()
        files.append(ticket["initiateLectureUpload"]["fileId"])

    student, outsider = people.make(), people.make()
    (await enroll(url, student, course_id)).ok()
    assert await can_watch(url, student, *files) == [True, True]
    assert await can_watch(url, outsider, *files) == [False, True]
    assert await can_watch(url, None, *files) == [False, True]
    assert await can_watch(url, teacher, *files) == [True, True]
    assert await can_watch(url, people.admin(), *files) == [True, True]


# ------------------------------------------------------------------ service layer
class ScriptedFiles(FilesClient):
    """Files as the service layer sees it: tickets on demand, deletions that may fail."""

    def __init__(self, on_create: Callable[[], Awaitable[None]] | None = None) -> None:
        self.on_create = on_create
        self.created: list[str] = []
        self.delete_attempts: list[str] = []

    async def create_upload(
        self, owner_id: str, purpose: str, file_name: str, size_bytes: int, content_type: str
    ) -> UploadTicket:
        if self.on_create is not None:
            await self.on_create()
        file_id = str(uuid.uuid4())
        self.created.append(file_id)
        expires_at = datetime.now(UTC) + timedelta(minutes=15)
        return UploadTicket(file_id, f"https://files.test/{file_id}", "PUT", (), expires_at)

    async def delete_file(self, file_id: str) -> bool:
        self.delete_attempts.append(file_id)
        raise ServiceUnavailable("The files service is unavailable.")


async def test_a_failed_deletion_of_the_old_video_is_not_the_clients_problem(
    upload_stack: UploadStack, people: People, container: CoursesContainer
) -> None:
    teacher = people.make("TEACHER")
    lecture_id = await _lecture(upload_stack.courses_url, teacher)
    files = ScriptedFiles()
    videos = VideoService(container.database, files, max_video_bytes=GIB)
    as_teacher = Viewer(teacher.id, "TEACHER")
    upload = VideoUpload("intro.mp4", 1000, "video/mp4")
    first = await videos.initiate_upload(as_teacher, lecture_id, upload)
    second = await videos.initiate_upload(as_teacher, lecture_id, upload)
    assert files.delete_attempts == [first.file_id]
    seen = await lecture_video(upload_stack.courses_url, teacher, lecture_id)
    assert (seen["videoStatus"], seen["video"]) == ("UPLOADING", {"id": second.file_id})


async def test_a_ticket_the_lecture_never_took_is_deleted(
    upload_stack: UploadStack, people: People, container: CoursesContainer
) -> None:
    url = upload_stack.courses_url
    teacher = people.make("TEACHER")
    lecture_id = await _lecture(url, teacher, publish=True)
    course_id = await _course_of(url, teacher, lecture_id)
    as_teacher = Viewer(teacher.id, "TEACHER")

    async def archive_meanwhile() -> None:
        await container.courses.archive_course(as_teacher, course_id)

    files = ScriptedFiles(on_create=archive_meanwhile)
    videos = VideoService(container.database, files, max_video_bytes=GIB)
    upload = VideoUpload("intro.mp4", 1000, "video/mp4")
    with pytest.raises(Conflict):
        await videos.initiate_upload(as_teacher, lecture_id, upload)
    assert files.delete_attempts == files.created
    assert _video_fields(await lecture_video(url, teacher, lecture_id)) == NO_VIDEO
