"""A background loop for queue-draining work (outbox delivery, video processing).

It runs one pass at once again while passes come back full, and otherwise sleeps until it
is woken (new work committed here) or its poll interval ends (work from other processes,
retries that came due, work left by a restart).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from coursegraph.log import get_logger

log = get_logger("coursegraph.background")


class PollingLoop:
    def __init__(
        self,
        name: str,
        one_pass: Callable[[], Awaitable[int]],
        *,
        batch: int,
        poll_seconds: float,
    ) -> None:
        """`one_pass` does one batch of work and returns how many items it took."""
        self._name = name
        self._one_pass = one_pass
        self._batch = batch
        self._poll = poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                taken = await self._one_pass()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background pass failed", loop=self._name)
                taken = 0
            if taken >= self._batch:
                continue  # more may be waiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
            self._wake.clear()
