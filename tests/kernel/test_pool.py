"""The subgraphs' pool against real PostgreSQL: a burst opens connections up to the
ceiling, those above `pool_size` stay open while in use and close once idle a while,
counted as the server sees them (its backends in the test's own database)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import func, literal, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.pool.base import _ConnectionRecord

from coursegraph.database import create_database, drop_database
from coursegraph.db import Database, async_url, create_engine
from coursegraph.embedded_pg import with_database
from coursegraph.pool import IdleClosingPool

POOL_SIZE = 2
CEILING = 2 * POOL_SIZE
IDLE_SECONDS = 1.0


@pytest.fixture
async def url(database_server_url: str) -> AsyncIterator[str]:
    """A database of its own: its backends are this test's pool's and no one else's."""
    name = f"coursegraph_pool_{secrets.token_hex(4)}"
    await create_database(database_server_url, name)
    yield with_database(database_server_url, name)
    await drop_database(database_server_url, name)


class Backends:
    """Counts the server's backends in one database, from a connection to another."""

    def __init__(self, connection: asyncpg.Connection, database: str) -> None:
        self.connection = connection
        self.database = database

    async def count(self) -> int:
        found: int = await self.connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", self.database
        )
        return found

    async def until(self, expected: int, within: float) -> float:
        """Seconds until the count is `expected` (bounded by `within`)."""
        started = time.monotonic()
        while await self.count() != expected:
            assert time.monotonic() - started < within, f"never {expected} backends"
            await asyncio.sleep(0.02)
        return time.monotonic() - started


@pytest.fixture
async def backends(url: str) -> AsyncIterator[Backends]:
    server = async_url(with_database(url, "postgres")).replace("+asyncpg", "", 1)
    connection = await asyncpg.connect(server)
    try:
        database = make_url(url).database
        assert database is not None
        yield Backends(connection, database)
    finally:
        await connection.close()


async def _slow_read(database: Database, index: int) -> None:
    # Both ways a subgraph reads: Core rows and a read session.
    if index % 2:
        assert await database.rows(select(literal(1), func.pg_sleep(0.2))) == [(1, None)]
    else:
        async with database.read() as session:
            await session.execute(text("SELECT pg_sleep(0.2)"))


async def _burst(database: Database, backends: Backends) -> int:
    """Three times the ceiling of concurrent reads; the most backends seen meanwhile."""
    reads = asyncio.gather(*(_slow_read(database, i) for i in range(3 * CEILING)))
    most = 0
    try:
        while not reads.done():
            most = max(most, await backends.count())
            await asyncio.sleep(0.01)
    finally:
        await reads
    return most


def _pool(database: Database) -> IdleClosingPool:
    pool = database.engine.sync_engine.pool
    assert isinstance(pool, IdleClosingPool)
    return pool


async def test_a_burst_keeps_its_connections_until_idle_then_the_pool_shrinks(
    url: str, backends: Backends
) -> None:
    database = Database(create_engine(url, pool_size=POOL_SIZE, idle_seconds=IDLE_SECONDS))
    try:
        assert await _burst(database, backends) == CEILING
        # Not closed when returned (the churn this pool avoids) ...
        assert await backends.count() == CEILING
        assert _pool(database).open_connections() == CEILING
        # ... and a second burst within the delay opens none.
        assert await _burst(database, backends) == CEILING
        # Idle for the delay, the ones above pool_size close; pool_size stay.
        waited = await backends.until(POOL_SIZE, within=IDLE_SECONDS + 5)
        assert waited >= IDLE_SECONDS - 0.1
        # The pool counts a connection closed once asyncpg has seen the server hang up,
        # which can come just after the server stopped listing the backend.
        for _ in range(100):
            if _pool(database).open_connections() == POOL_SIZE:
                break
            await asyncio.sleep(0.01)
        assert _pool(database).open_connections() == POOL_SIZE
        await asyncio.sleep(IDLE_SECONDS + 0.5)
        assert await backends.count() == POOL_SIZE
        # The pool grows again as needed.
        assert await _burst(database, backends) == CEILING
    finally:
        await database.dispose()
    await backends.until(0, within=5)


async def test_a_light_load_uses_the_newest_connections_so_the_others_go(
    url: str, backends: Backends
) -> None:
    database = Database(create_engine(url, pool_size=POOL_SIZE, idle_seconds=IDLE_SECONDS))
    try:
        await _burst(database, backends)
        # One read at a time: last in, first out, so the same connection serves them all
        # and the rest stay idle long enough to close.
        started = time.monotonic()
        while time.monotonic() - started < IDLE_SECONDS + 1:
            assert await database.rows(select(literal(1))) == [(1,)]
            await asyncio.sleep(0.05)
        assert await backends.count() == POOL_SIZE
    finally:
        await database.dispose()
    await backends.until(0, within=5)


async def test_dispose_closes_connections_awaiting_their_idle_delay(
    url: str, backends: Backends
) -> None:
    database = Database(create_engine(url, pool_size=POOL_SIZE, idle_seconds=IDLE_SECONDS))
    await _burst(database, backends)
    await database.dispose()
    await backends.until(0, within=5)
    # The engine is usable after dispose (a new pool, the same policy).
    assert await _burst(database, backends) == CEILING
    await database.dispose()
    await backends.until(0, within=5)


def _idle_on_top(pool: IdleClosingPool) -> ConnectionPoolEntry:
    """The record `connect_now` would take, left in the queue."""
    record = pool._pool.get(False)
    pool._pool.put(record, False)
    return record


async def test_connect_now_hands_over_the_newest_idle_connection_without_a_greenlet(
    url: str, backends: Backends
) -> None:
    database = Database(create_engine(url, pool_size=POOL_SIZE, idle_seconds=IDLE_SECONDS))
    try:
        pool = _pool(database)
        # Nothing idle yet: no connection opened here, the caller checks out as usual.
        assert pool.connect_now() is None
        assert pool.open_connections() == 0
        await _burst(database, backends)
        newest = _idle_on_top(pool)
        idle = pool._pool.qsize()
        pooled = pool.connect_now()  # plain call: any I/O would raise MissingGreenlet
        assert pooled is not None
        assert pooled._connection_record is newest
        assert pool._pool.qsize() == idle - 1
        pooled.close()
        assert _idle_on_top(pool) is newest
        assert pool._pool.qsize() == idle
        # Core reads take the same way and answer as before.
        assert await database.rows(select(literal(1))) == [(1,)]
        assert pool._pool.qsize() == idle
    finally:
        await database.dispose()


async def test_connect_now_leaves_a_checkout_that_needs_io_to_the_greenlet(
    url: str, backends: Backends
) -> None:
    database = Database(create_engine(url, pool_size=1, idle_seconds=IDLE_SECONDS))
    try:
        pool = _pool(database)
        assert await database.rows(select(literal(1))) == [(1,)]
        record = _idle_on_top(pool)
        assert isinstance(record, _ConnectionRecord)
        # Each case the parent's checkout would reconnect in: refused, queue untouched.
        started = record.starttime
        record.starttime = time.time() - pool._recycle + 0.5  # about to be recycled
        assert pool.connect_now() is None
        assert _idle_on_top(pool) is record
        record.starttime = started
        record._soft_invalidate_time = started + 1  # soft-invalidated
        assert pool.connect_now() is None
        record._soft_invalidate_time = 0
        pool._invalidate_time = started + 1  # the pool invalidated
        assert pool.connect_now() is None
        pool._invalidate_time = 0
        # Every connection checked out: no wait begun (it would need the greenlet).
        held = [pool.connect_now(), await database.engine.raw_connection()]
        assert held[0] is not None
        assert pool.connect_now() is None
        for pooled in reversed(held):  # `record` back on top
            assert pooled is not None
            pooled.close()
        assert _idle_on_top(pool) is record
        # A connection the server closed is left to the checkout that replaces it.
        driver = record.dbapi_connection.driver_connection  # type: ignore[union-attr]
        pid = driver.get_server_pid()
        await backends.connection.execute("SELECT pg_terminate_backend($1)", pid)
        for _ in range(1000):
            if driver.is_closed():
                break
            await asyncio.sleep(0.01)
        assert driver.is_closed()
        assert pool.connect_now() is None
        assert _idle_on_top(pool) is record
        assert await database.rows(select(literal(1))) == [(1,)]
        replaced = pool.connect_now()
        assert replaced is not None
        assert replaced.driver_connection is not driver
        replaced.close()
    finally:
        await database.dispose()
