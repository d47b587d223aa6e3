"""How many operations the router executes at once.

With many requests in flight, each one's data (subgraph answers parsed, merged, projected:
about a megabyte for a large query) is touched in turns with all the others', and falls
out of the CPU's caches between two of its steps: at 50 TestQueries in flight the router
spent 20-25 % more CPU per request than at 8 (docs/benchmarks.md). So operations queue, in
arrival order, while `limit` are in flight — unless every one in flight is waiting for
subgraphs' answers, when the next one goes in at once: the CPU never idles while someone
waits, so slow subgraphs hold no one back, and in flight stays near the fewest that keep
the CPU busy. An operation counts as waiting while any of its subgraph requests is out.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Admission:
    __slots__ = ("in_flight", "limit", "queue", "working")

    def __init__(self, limit: int | None) -> None:
        # None: no limit (`limits.operations_in_flight: null`).
        self.limit = limit
        self.in_flight = 0
        # In flight and not waiting for subgraphs.
        self.working = 0
        # Operations waiting to go in, oldest first; one that gave up stays until a
        # hand-over skips it.
        self.queue: deque[asyncio.Future[None]] = deque()

    def _open(self) -> bool:
        limit = self.limit
        return limit is None or self.in_flight < limit or self.working == 0

    async def enter(self) -> Ticket:
        """Returns once the operation may run."""
        if not self.queue and self._open():
            self.in_flight += 1
            self.working += 1
            return Ticket(self)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.queue.append(waiter)
        try:
            await waiter
        except BaseException:
            # Cancelled (the client went away): if it was let in meanwhile, it is done.
            if waiter.done() and not waiter.cancelled():
                self.in_flight -= 1
                self.working -= 1
                self.hand_over()
            raise
        return Ticket(self)

    def set_limit(self, limit: int | None) -> None:
        """A new configuration's limit (a reload); a higher one lets waiters in now."""
        self.limit = limit
        self.hand_over()

    def hand_over(self) -> None:
        queue = self.queue
        while queue and self._open():
            waiter = queue.popleft()
            if not waiter.done():
                self.in_flight += 1
                self.working += 1
                waiter.set_result(None)


class Ticket:
    """One operation let in: `sent`/`answered` around each of its subgraph requests,
    `close` when it is done. A request still out at `close` (a branch that failed before
    its siblings finished) no longer counts."""

    __slots__ = ("admission", "closed", "out")

    def __init__(self, admission: Admission) -> None:
        self.admission = admission
        self.out = 0
        self.closed = False

    def sent(self) -> None:
        self.out += 1
        if self.out == 1 and not self.closed:
            admission = self.admission
            admission.working -= 1
            if admission.working == 0:
                admission.hand_over()

    def answered(self) -> None:
        self.out -= 1
        if self.out == 0 and not self.closed:
            self.admission.working += 1

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        admission = self.admission
        admission.in_flight -= 1
        if self.out == 0:
            admission.working -= 1
        admission.hand_over()
