"""Database reads against real PostgreSQL: no transaction round trips, and a connection
the server ended is survived without a ping."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import Numeric, Select, bindparam, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from coursegraph.db import Database, async_url, create_engine, schema_metadata
from coursegraph.settings import Settings

SCHEMA = f"db_test_{secrets.token_hex(3)}"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)


class Thing(Base):
    __tablename__ = "thing"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]


class Measure(Base):
    """Values SQLAlchemy's results convert (a numeric read as a float) or bind through a
    processor (a boolean), and NULLs."""

    __tablename__ = "measure"
    id: Mapped[int] = mapped_column(primary_key=True)
    ratio: Mapped[float] = mapped_column(Numeric(6, 2, asdecimal=False))
    flag: Mapped[bool]
    note: Mapped[str | None]


@pytest.fixture
async def url(settings: Settings) -> AsyncIterator[str]:
    url = settings.database_url_for("users")
    engine = create_engine(url, pool_size=1)
    async with engine.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
        await connection.run_sync(Base.metadata.create_all)
        await connection.execute(text(f"INSERT INTO \"{SCHEMA}\".thing VALUES (1, 'one')"))
        await connection.execute(
            text(
                f'INSERT INTO "{SCHEMA}".measure VALUES '
                "(1, 0.25, true, NULL), (2, 12.5, false, 'b'), (3, 1, true, 'c')"
            )
        )
    yield url
    async with engine.begin() as connection:
        await connection.execute(text(f'DROP SCHEMA "{SCHEMA}" CASCADE'))
    await engine.dispose()


async def _backend_pid(database: Database) -> int:
    async with database.read() as session:
        pid: int = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    return pid


async def _terminate(url: str, pid: int) -> None:
    """End that backend from outside, and wait until the server has let it go."""
    connection = await asyncpg.connect(async_url(url).replace("+asyncpg", "", 1))
    try:
        assert await connection.fetchval("SELECT pg_terminate_backend($1)", pid)
        while await connection.fetchval("SELECT 1 FROM pg_stat_activity WHERE pid = $1", pid):
            pass
    finally:
        await connection.close()


async def test_reads_run_outside_a_transaction(url: str) -> None:
    database = Database(create_engine(url, pool_size=1))
    try:
        # now() is the start of the transaction: fixed inside one, new for each autocommit
        # statement (separate round trips, microsecond resolution).
        async with database.read() as session:
            first = (await session.execute(text("SELECT now()"))).scalar_one()
            second = (await session.execute(text("SELECT now()"))).scalar_one()
            assert second > first
            assert (await session.get(Thing, 1)) is not None
        async with database.transaction() as session:
            first = (await session.execute(text("SELECT now()"))).scalar_one()
            second = (await session.execute(text("SELECT now()"))).scalar_one()
            assert second == first
    finally:
        await database.dispose()


async def _pooled_driver_connection(database: Database) -> Any:
    """The asyncpg connection behind the pool's one connection."""
    async with database.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        return raw.driver_connection


async def _until_the_client_sees_it_ended(driver: Any) -> None:
    """The checkout check reads what asyncpg knows: wait (bounded) until the event loop has
    delivered the server's end of the socket, as it has for any connection idle in a pool
    by the time a request checks it out."""
    for _ in range(1000):
        if driver.is_closed():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("asyncpg never saw the terminated connection close")


async def test_a_connection_the_server_ended_is_replaced_at_checkout(url: str) -> None:
    database = Database(create_engine(url, pool_size=1))
    try:
        pid = await _backend_pid(database)
        driver = await _pooled_driver_connection(database)
        await _terminate(url, pid)
        await _until_the_client_sees_it_ended(driver)
        async with database.read() as session:
            assert (await session.get(Thing, 1)) is not None
        assert await _backend_pid(database) != pid
        # Writes check out the same way.
        pid = await _backend_pid(database)
        driver = await _pooled_driver_connection(database)
        await _terminate(url, pid)
        await _until_the_client_sees_it_ended(driver)
        async with database.transaction() as session:
            (await session.get(Thing, 1, with_for_update=True)).name = "uno"  # type: ignore[union-attr]
        async with database.read() as session:
            assert (await session.scalars(select(Thing.name))).one() == "uno"
    finally:
        await database.dispose()


async def test_a_read_whose_first_statement_meets_a_dead_connection_runs_again(
    url: str,
) -> None:
    # An engine without the checkout check, so the dead connection reaches the statement.
    bare: AsyncEngine = create_async_engine(async_url(url), pool_size=1, max_overflow=0)
    database = Database(bare)
    try:
        pid = await _backend_pid(database)
        await _terminate(url, pid)
        async with database.read() as session:
            thing = (await session.scalars(select(Thing).where(Thing.id == 1))).one()
            assert thing.name == "one"
        assert await _backend_pid(database) != pid
    finally:
        await database.dispose()


async def test_core_rows_survive_a_connection_the_server_ended(
    url: str,
) -> None:
    # Without the checkout check, as above: the dead connection reaches the statement.
    bare: AsyncEngine = create_async_engine(async_url(url), pool_size=1, max_overflow=0)
    database = Database(bare)
    try:
        assert [tuple(row) for row in await database.rows(select(Thing.id, Thing.name))] == [
            (1, "one")
        ]
        pid = await _backend_pid(database)
        await _terminate(url, pid)
        assert [tuple(row) for row in await database.rows(select(Thing.name))] == [("one",)]
        assert await _backend_pid(database) != pid
    finally:
        await database.dispose()


async def test_core_rows_are_what_sqlalchemy_returns(url: str) -> None:
    database = Database(create_engine(url, pool_size=1))
    statements: list[tuple[Select[*tuple[Any, ...]], dict[str, Any] | None]] = [
        (select(Measure.id, Measure.ratio, Measure.flag, Measure.note).order_by(Measure.id), None),
        (select(Measure.ratio).where(Measure.id.in_([3, 1])).order_by(Measure.id), None),
        (select(Measure.id).where(Measure.flag.is_(True), Measure.ratio > 0.5), None),
        (select(Measure.note).where(Measure.id == bindparam("wanted")), {"wanted": 2}),
        (select(Measure.id).where(Measure.id == -1), None),
    ]
    try:
        for statement, parameters in statements:
            async with database.engine.connect() as connection:
                expected = [tuple(r) for r in await connection.execute(statement, parameters)]
            found = await database.rows(statement, parameters)
            assert found == expected
            assert [[type(v) for v in row] for row in found] == [
                [type(v) for v in row] for row in expected
            ]
        with pytest.raises(DBAPIError) as raised:
            await database.rows(select(Measure.id / (Measure.id - 1)))
        assert not raised.value.connection_invalidated
        assert "division by zero" in str(raised.value)
        assert await database.rows(select(Measure.id).where(Measure.id == 3)) == [(3,)]
    finally:
        await database.dispose()


async def test_an_update_returning_commits_alone_with_converted_rows(url: str) -> None:
    database = Database(create_engine(url, pool_size=1))
    statement = (
        update(Measure)
        .where(Measure.id == bindparam("wanted"))
        .values(ratio=Measure.ratio * 2)
        .returning(Measure.id, Measure.ratio, Measure.flag)
    )
    try:
        assert await database.returning(statement, {"wanted": 2}) == [(2, 25.0, False)]
        assert await database.returning(statement, {"wanted": -1}) == []
        # Committed: a connection of another client sees it.
        other = await asyncpg.connect(async_url(url).replace("+asyncpg", "", 1))
        try:
            ratio = await other.fetchval(f'SELECT ratio FROM "{SCHEMA}".measure WHERE id = 2')
            assert float(ratio) == 25.0
        finally:
            await other.close()
    finally:
        await database.dispose()
