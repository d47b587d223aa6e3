"""The background worker that drains the processing queue (files rows in PROCESSING).

It runs beside the request handlers, so an upload's confirmation returns at once; it is
woken when work is queued and polls otherwise, which also resumes work left by a restart.
"""

from __future__ import annotations

import asyncio
import contextlib

from coursegraph.log import get_logger
from subgraphs.files.service import FileService

log = get_logger("coursegraph.files.worker")
BATCH = 4


class ProcessingWorker:
    def __init__(self, files: FileService, *, poll_seconds: float = 2.0) -> None:
        self._files = files
        self._poll = poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="files-processing")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                claimed = await self._files.process_due(BATCH)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("processing pass failed")
                claimed = 0
            if claimed >= BATCH:
                continue  # more may be waiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
            self._wake.clear()
