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
from subgraphs.files.settings import FilesSettings, ProcessingSettings
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
    """Start a files server; keyword arguments override its settings section, `kernel`
    its kernel settings."""
    started: list[ServerThread] = []

    def start(*, kernel: dict[str, Any] | None = None, **overrides: Any) -> FilesServer:
        deferred = DeferredApp()
        server = ServerThread(deferred)
        files_settings = settings.model_copy(
            update={"courses_url": courses.settings.courses_url, **(kernel or {})}
        )
        section = FilesSettings(
            _env_file=None,
            storage_dir=tmp_path / "storage",
            public_url=server.url,
            processing=ProcessingSettings(poll_seconds=0.2),
        ).model_copy(update=overrides)
        deferred.app = create_app(files_settings, section)
        started.append(server.start())
        return FilesServer(server, files_settings, section)

    yield start
    for server in reversed(started):
        await asyncio.to_thread(server.stop)
