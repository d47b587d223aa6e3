"""Fixtures for files: a fake courses subgraph, and files servers in several set-ups."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from coursegraph.settings import Settings
from coursegraph.testing import ServerThread
from subgraphs.files.app import create_app
from tests.files.servers import DeferredApp, FakeCourses, FilesServer, StartFiles


@pytest.fixture
def courses(settings: Settings) -> Iterator[FakeCourses]:
    fake = FakeCourses(settings)
    with ServerThread(fake.app()) as server:
        fake.settings = settings.model_copy(update={"courses_url": server.url})
        yield fake


@pytest.fixture
async def start_files(
    settings: Settings, courses: FakeCourses, tmp_path: Path, clean_database: None
) -> AsyncIterator[StartFiles]:
    """Start a files server; keyword arguments override settings."""
    started: list[ServerThread] = []

    def start(**overrides: Any) -> FilesServer:
        deferred = DeferredApp()
        server = ServerThread(deferred)
        files_settings = settings.model_copy(
            update={
                "courses_url": courses.settings.courses_url,
                "files_storage_dir": tmp_path / "storage",
                "files_public_url": server.url,
                "files_processing_poll_seconds": 0.2,
                **overrides,
            }
        )
        deferred.app = create_app(files_settings)
        started.append(server.start())
        return FilesServer(server, files_settings)

    yield start
    for server in reversed(started):
        await asyncio.to_thread(server.stop)
