"""Async SQLAlchemy for the subgraphs: one engine per subgraph, one PostgreSQL schema each.

Services own transactions through `Database.transaction()`; resolvers never commit.
Reads go through `Database.read()`: autocommit, so no BEGIN/ROLLBACK round trips (each
statement of a READ COMMITTED transaction saw its own snapshot anyway).

Dead pooled connections are found without a ping round trip: asyncpg marks a connection
closed as soon as the server ends it (restart, idle timeout, pg_terminate_backend), so a
checkout refuses it for free; `pool_recycle` retires connections a silent network could
have cut; and a read whose first ORM statement (services read through the ORM) still
meets a dead connection runs once more on a new one (nothing was read yet, so nothing is
repeated).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Executable, MetaData, event
from sqlalchemy.engine import Result, Row, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

# Older pooled connections are replaced, so one cut silently (no FIN) is not kept forever.
POOL_RECYCLE_SECONDS = 1800
_FIRST_READ_DONE = "coursegraph.first_read_done"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def schema_metadata(schema: str) -> MetaData:
    """Metadata whose tables all live in the PostgreSQL schema `schema`."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def async_url(url: str) -> str:
    """Accept plain `postgresql://` URLs and use asyncpg for them."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    engine = create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=POOL_RECYCLE_SECONDS,
    )
    event.listen(engine.sync_engine, "checkout", _refuse_closed_connection)
    return engine


def _refuse_closed_connection(
    dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
) -> None:
    # The pool discards the connection and checks out another (a new one if need be).
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


class ReadSession(Session):
    """The sessions of `Database.read()`; see `_retry_first_read`."""


@event.listens_for(ReadSession, "do_orm_execute")
def _retry_first_read(state: ORMExecuteState) -> Result[Any] | None:
    session = state.session
    if session.info.get(_FIRST_READ_DONE):
        return None  # a connection that has answered once is not retried
    session.info[_FIRST_READ_DONE] = True
    try:
        return state.invoke_statement()
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
        session.rollback()  # frees the invalidated connection; the identity map is empty
        return state.invoke_statement()


class Database:
    """One subgraph's engine and session factories."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self._read_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._read_sessions = async_sessionmaker(
            self._read_engine,
            expire_on_commit=False,
            autoflush=False,
            sync_session_class=ReadSession,
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed on success, rolled back on any error."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only, outside any transaction: it must not write or lock
        rows (each statement would commit on its own); use `transaction()` for that."""
        async with self._read_sessions() as session:
            yield session

    async def rows(self, statement: Executable) -> Sequence[Row[*tuple[Any, ...]]]:
        """The rows of one Core read, outside any transaction, without an ORM session
        (no identity map, no instances: the hot reads' per-statement cost). Like a read
        session's first statement, it runs once more when its connection proves dead."""
        try:
            return await self._rows(statement)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
        return await self._rows(statement)

    async def _rows(self, statement: Executable) -> Sequence[Row[*tuple[Any, ...]]]:
        async with self._read_engine.connect() as connection:
            return (await connection.execute(statement)).all()

    async def dispose(self) -> None:
        await self.engine.dispose()


def one_of(column: str, values: Iterable[str]) -> str:
    """A CHECK constraint's text: `column` holds one of `values` (a `StrEnum`, say)."""
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


def is_unique_violation(error: DBAPIError, constraint: str | None = None) -> bool:
    """True for a PostgreSQL unique violation (optionally of the named constraint)."""
    orig = getattr(error, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None) or getattr(
        getattr(orig, "__cause__", None), "sqlstate", None
    )
    if sqlstate != "23505":
        return False
    if constraint is None:
        return True
    cause = getattr(orig, "__cause__", None)
    name = getattr(cause, "constraint_name", None)
    return name == constraint or constraint in str(error)
