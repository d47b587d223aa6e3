"""The subgraphs' connection pool: SQLAlchemy's asyncio queue pool, except that the
connections above `pool_size` are closed once they have stayed idle for a while, not the
moment they are returned.

SQLAlchemy's `QueuePool` closes an overflow connection as soon as it is checked in, so
every burst above `pool_size` opens connections again: a connect, an authentication, a
server backend, and every asyncpg prepared statement prepared again (bench/stack.py counted
39 in a 15 s window at 20 clients). Keeping the whole ceiling open instead held it idle in
every process and ran CI's PostgreSQL out of connections. Here the queue holds up to the
ceiling, is used last in, first out (so under a lighter load the connections at its bottom
stay idle), and a timer closes those idle for `idle_seconds` while more than `pool_size`
are open. Everything else (checkout, its events, invalidation, recycling) is the parent's.

`connect_now` checks out the most recently returned connection without a greenlet (the
async engine spawns one per checkout: ~30 µs of CPU a read, `bench/kernel.py db`) when
nothing in the checkout can need I/O; otherwise the caller checks out as usual. It takes
the connection from the queue without waiting, so the parent's checkout never builds the
coroutine of a wait it could not await.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.pool.base import _ConnectionRecord
from sqlalchemy.util import await_only, greenlet_spawn
from sqlalchemy.util.queue import Empty

# When a pooled connection was last checked in (`ConnectionPoolEntry.record_info`).
_IDLE_SINCE = "coursegraph.idle_since"
# `connect_now` leaves a connection this close to `pool_recycle` to the usual checkout:
# the parent's checkout reads the clock again and would recycle it (I/O).
_RECYCLE_MARGIN_SECONDS = 1.0


class IdleClosingPool(AsyncAdaptedQueuePool):
    """Opens up to `pool_size + max_overflow` connections and keeps `pool_size` of them;
    the others are closed after `idle_seconds` unused."""

    def __init__(
        self,
        creator: Any,
        pool_size: int = 5,
        max_overflow: int = 10,
        idle_seconds: float = 5.0,
        **kw: Any,
    ) -> None:
        if pool_size < 1 or max_overflow < 0:
            raise ValueError("IdleClosingPool needs pool_size >= 1 and max_overflow >= 0")
        # The parent's queue holds the whole ceiling, so a check-in never closes: the
        # parent's "overflow" counts the open connections below that ceiling.
        super().__init__(
            creator, pool_size=pool_size + max_overflow, max_overflow=0, use_lifo=True, **kw
        )
        self._keep = pool_size
        self._idle_seconds = idle_seconds
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        self._closers: set[asyncio.Task[None]] = set()
        # The record `connect_now` took from the queue, for `_do_get` to hand over.
        self._taken: ConnectionPoolEntry | None = None

    def open_connections(self) -> int:
        """Connections open (checked out, idle, or being closed)."""
        return self._pool.maxsize + self._overflow

    def connect_now(self) -> PoolProxiedConnection | None:
        """The most recently returned connection, checked out in place, or None when its
        checkout could need I/O (none idle; one due for recycling, invalidated, or closed
        by the server, which the engine's checkout listener refuses; pre-ping on): then
        check out as usual, in a greenlet. Leaves the queue as it found it when None."""
        try:
            record = self._pool.get(False)
        except Empty:
            return None
        if not self._ready(record):
            self._pool.put(record, False)  # back on top: the queue is last in, first out
            return None
        self._taken = record
        return self.connect()

    def _ready(self, entry: ConnectionPoolEntry) -> bool:
        # What the parent's checkout tests before it reconnects (`get_connection`).
        assert isinstance(entry, _ConnectionRecord)
        connection = entry.dbapi_connection
        started = entry.starttime
        return (
            connection is not None
            and not self._pre_ping
            and (
                self._recycle < 0 or time.time() - started < self._recycle - _RECYCLE_MARGIN_SECONDS
            )
            and self._invalidate_time <= started
            and entry._soft_invalidate_time <= started
            and not connection.driver_connection.is_closed()
        )

    def _do_get(self) -> ConnectionPoolEntry:
        record, self._taken = self._taken, None
        return record if record is not None else super()._do_get()

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        _info(record)[_IDLE_SINCE] = time.monotonic()
        super()._do_return_conn(record)
        if self.open_connections() > self._keep:
            self._schedule(self._idle_seconds)

    def _schedule(self, delay: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # checked in outside the event loop: the next check-in schedules it
        if self._timer is not None and self._timer_loop is loop:
            return
        self._timer = loop.call_later(delay, self._start_closing, loop)
        self._timer_loop = loop

    def _start_closing(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = self._timer_loop = None
        task = loop.create_task(greenlet_spawn(self._close_idle))
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)

    def _close_idle(self) -> None:
        """Closes the connections idle `idle_seconds` beyond the `pool_size` kept, oldest
        first, and schedules the next look while more than `pool_size` stay open. Runs in
        a greenlet: closing an asyncpg connection awaits its goodbye to the server."""
        idle: list[ConnectionPoolEntry] = []  # most recently checked in first
        while True:
            try:
                idle.append(self._pool.get(False))
            except Empty:
                break
        now = time.monotonic()
        excess = self.open_connections() - self._keep
        closing: list[ConnectionPoolEntry] = []
        while excess > 0 and idle and now - _info(idle[-1])[_IDLE_SINCE] >= self._idle_seconds:
            closing.append(idle.pop())
            excess -= 1
        for record in reversed(idle):  # back in the order they were checked in
            self._pool.put(record, False)
        for record in closing:
            try:
                record.close()
            finally:
                self._dec_overflow()
        if idle and self.open_connections() > self._keep:
            oldest = _info(idle[-1])[_IDLE_SINCE]
            self._schedule(max(oldest + self._idle_seconds - time.monotonic(), 0.0))

    def dispose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = self._timer_loop = None
        # Closings under way finish first (`AsyncEngine.dispose` runs this in a greenlet).
        for task in list(self._closers):
            await_only(task)
        super().dispose()

    def recreate(self) -> IdleClosingPool:
        self.logger.info("Pool recreating")
        return self.__class__(
            self._creator,
            pool_size=self._keep,
            max_overflow=self._pool.maxsize - self._keep,
            idle_seconds=self._idle_seconds,
            pre_ping=self._pre_ping,
            timeout=self._timeout,
            recycle=self._recycle,
            echo=self.echo,
            logging_name=self._orig_logging_name,
            reset_on_return=self._reset_on_return,
            _dispatch=self.dispatch,
            dialect=self._dialect,
        )


def _info(record: ConnectionPoolEntry) -> dict[str, Any]:
    info = record.record_info
    assert info is not None  # None only for a connection detached from its pool
    return info
