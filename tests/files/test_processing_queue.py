"""The durable parts: processing resumes after a restart; courses is told until it answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from coursegraph.db import Database, create_engine
from coursegraph.errors import ServiceUnavailable
from coursegraph.events import Event
from subgraphs.files.clients import CoursesClient
from subgraphs.files.effects import outbox_handlers
from subgraphs.files.processing.local import LocalProcessor
from subgraphs.files.service import FileService
from subgraphs.files.storage.local import LocalStorage
from tests.files.flow import confirm, create_upload, put, wait_for_status
from tests.files.media import make_mp4
from tests.files.servers import FakeCourses, StartFiles


async def test_pending_processing_resumes_after_a_restart(
    start_files: StartFiles, courses: FakeCourses
) -> None:
    # A process that confirmed an upload and stopped before its worker ran: no server,
    # just the service with nothing draining its queue.
    first = start_files()
    first.server.stop()
    settings, section = first.settings, first.section
    storage = LocalStorage(
        section.resolved_storage_dir(settings),
        section.resolved_public_url(settings),
        section.url_key(settings),
    )
    storage.open()
    database = Database(create_engine(settings.database_url_for("files"), pool_size=2))
    service = FileService(database, storage, LocalProcessor(storage), section)
    video = make_mp4(4.0)
    try:
        upload = await service.create_upload(
            "lecture-9", "lecture_video", "a.mp4", len(video), "video/mp4"
        )

        async def body() -> AsyncIterator[bytes]:
            yield video

        await storage.receive(upload.target.url.split("/")[-1].split("?")[0], body(), len(video))
        assert (await service.confirm_upload(str(upload.file.id))).status == "PROCESSING"
    finally:
        await database.dispose()

    files = start_files()  # the restarted process finds the queued work
    ready = await wait_for_status(files, str(upload.file.id))
    assert (ready["status"], ready["durationSeconds"]) == ("READY", 4.0)
    assert (await courses.wait_for_calls(1))[0]["status"] == "READY"


async def test_courses_is_told_again_until_it_acknowledges(
    start_files: StartFiles, courses: FakeCourses
) -> None:
    files = start_files()
    courses.down = True
    video = make_mp4(2.0)
    ticket = await create_upload(files, len(video))
    await put(ticket, video)
    await confirm(files, ticket["fileId"])
    assert (await wait_for_status(files, ticket["fileId"]))["status"] == "READY"
    await asyncio.sleep(1.0)
    assert courses.calls == []
    courses.down = False
    calls = await courses.wait_for_calls(1)
    assert calls == [{"fileId": ticket["fileId"], "status": "READY", "durationSeconds": 2}]
    await asyncio.sleep(0.5)
    assert len(courses.calls) == 1  # acknowledged: not sent again


async def test_a_video_no_lecture_claims_is_retried_for_a_while_only(
    courses: FakeCourses,
) -> None:
    client = CoursesClient(courses.settings)
    deliver = outbox_handlers(client)["video.ready"]
    courses.claimed = False

    def event(age: timedelta) -> Event:
        recorded_at = (datetime.now(UTC) - age).isoformat()
        payload = {"fileId": "f1", "purpose": "lecture_video", "status": "READY"}
        return Event(
            "e1", "video.ready", {**payload, "durationSeconds": 0.4, "recordedAt": recorded_at}
        )

    try:
        # Soon after the upload, courses may not have committed the lecture's file yet.
        with pytest.raises(ServiceUnavailable):
            await deliver(event(timedelta(seconds=5)))
        # Much later, the file is nobody's: the event is dropped instead of retried forever.
        await deliver(event(timedelta(hours=2)))
        courses.claimed = True
        await deliver(event(timedelta(seconds=1)))
    finally:
        await client.aclose()
    assert [c["durationSeconds"] for c in courses.calls] == [1, 1, 1]
