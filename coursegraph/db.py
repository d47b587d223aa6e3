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

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any, NoReturn

from sqlalchemy import MetaData, Select, event
from sqlalchemy.engine import Result, make_url
from sqlalchemy.engine.interfaces import Compiled
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import ReturningUpdate
from sqlalchemy.util import greenlet_spawn

from coursegraph.pool import IdleClosingPool
from coursegraph.settings import Settings

# Older pooled connections are replaced, so one cut silently (no FIN) is not kept forever.
POOL_RECYCLE_SECONDS = 1800
# How long a connection above the pool's size stays open unused: Settings'
# `database_pool_idle_seconds` for the subgraphs, this for the launcher's small pools.
DEFAULT_POOL_IDLE_SECONDS = 5.0
_FIRST_READ_DONE = "coursegraph.first_read_done"
# Statement shapes whose compiled SQL `Database.rows` keeps (as many as SQLAlchemy's own
# compiled cache): the code's reads are a few dozen shapes; past this, start again.
_COMPILED_CACHE_SIZE = 500
# A column's conversion of what asyncpg returned (None: the value as asyncpg gives it).
_Convert = Callable[[Any], Any] | None

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


def create_engine(
    url: str, *, pool_size: int = 10, idle_seconds: float = DEFAULT_POOL_IDLE_SECONDS
) -> AsyncEngine:
    # Up to twice `pool_size` connections at once; those above `pool_size` are closed after
    # `idle_seconds` unused rather than when returned (`coursegraph/pool.py`), so bursts do
    # not open connections again, and an idle process holds only `pool_size`.
    engine = create_async_engine(
        async_url(url),
        poolclass=IdleClosingPool,
        pool_size=pool_size,
        max_overflow=pool_size,
        idle_seconds=idle_seconds,
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


def service_database(settings: Settings, service: str) -> Database:
    """A subgraph's database, pooled as the settings say (`DATABASE_POOL_SIZE`,
    `DATABASE_POOL_IDLE_SECONDS`)."""
    return Database(
        create_engine(
            settings.database_url_for(service),
            pool_size=settings.database_pool_size,
            idle_seconds=settings.database_pool_idle_seconds,
        )
    )


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
        self._dialect = engine.dialect
        self._compiled: dict[Any, Compiled] = {}
        self._converters: dict[Compiled, tuple[_Convert, ...]] = {}

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

    async def rows(
        self, statement: Select[*tuple[Any, ...]], parameters: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """The rows of one Core read, outside any transaction, without an ORM session
        or SQLAlchemy's execution and result machinery: the statement's SQL is compiled
        once per shape (SQLAlchemy's cache key, as `Connection.execute` does) and run on
        the pooled connection's asyncpg statement cache, so a hot read costs a cache
        lookup, its parameters and the fetch (docs/benchmarks-log.md, "Subgraph kernel per
        request"). Values are converted as SQLAlchemy's results convert them; errors are
        SQLAlchemy's `DBAPIError`s. Like a read session's first statement, it runs once
        more when its connection proves dead. `parameters`: values of the statement's
        `bindparam`s that have none."""
        try:
            return await self._run(statement, parameters)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
        return await self._run(statement, parameters)

    async def returning(
        self,
        statement: ReturningUpdate[*tuple[Any, ...]],
        parameters: Mapping[str, Any] | None = None,
    ) -> list[tuple[Any, ...]]:
        """The rows one `UPDATE … RETURNING` returns, run as `rows` runs a read: outside
        any transaction, so it commits alone (atomic, as any single statement is), with
        no BEGIN/COMMIT round trips. Only for a change that needs nothing else written in
        its transaction. Not run again when its connection proves dead: it may have
        committed."""
        return await self._run(statement, parameters)

    async def _run(
        self,
        statement: Select[*tuple[Any, ...]] | ReturningUpdate[*tuple[Any, ...]],
        parameters: Mapping[str, Any] | None,
    ) -> list[tuple[Any, ...]]:
        sync_engine = self.engine.sync_engine
        if sync_engine.dispatch.before_cursor_execute or sync_engine.dispatch.after_cursor_execute:
            # Someone watches the engine's statements (the tests count them): they run
            # where its events fire.
            async with self._read_engine.connect() as connection:
                result = await connection.execute(statement, parameters)
                return [tuple(row) for row in result.all()]
        compiled, sql, values = self._compile(statement, parameters)
        return await self._fetch(compiled, sql, values)

    def _compile(
        self,
        statement: Select[*tuple[Any, ...]] | ReturningUpdate[*tuple[Any, ...]],
        parameters: Mapping[str, Any] | None,
    ) -> tuple[Compiled, str, list[Any]]:
        """The compiled statement, its SQL and its positional parameters, exactly as
        SQLAlchemy's execution context would send them to asyncpg."""
        if len(self._compiled) > _COMPILED_CACHE_SIZE:
            self._compiled.clear()
            self._converters.clear()
        compiled, extracted, collected, _ = statement._compile_w_cache(
            self._dialect, compiled_cache=self._compiled, column_keys=[]
        )
        assert isinstance(compiled, SQLCompiler)
        values = compiled.construct_params(
            parameters,
            extracted_parameters=extracted,
            escape_names=False,
            _collected_params=collected,
        )
        processors: Any = compiled._bind_processors
        if compiled.literal_execute_params or compiled.post_compile_params:
            # `IN` lists and literal-rendered values: the SQL depends on the values.
            expanded = compiled._process_parameters_for_postcompile(values)
            sql, names = expanded.statement, expanded.positiontup
            processors = {**processors, **expanded.processors}
        else:
            sql, names = compiled.string, compiled.positiontup
        assert names is not None  # asyncpg's paramstyle is positional
        positional = [
            processors[name](values[name]) if name in processors else values[name] for name in names
        ]
        return compiled, sql, positional

    async def _fetch(
        self, compiled: Compiled, sql: str, parameters: list[Any]
    ) -> list[tuple[Any, ...]]:
        # The pool's checkout (with `_refuse_closed_connection`) and checkin run as in
        # any SQLAlchemy connection; no transaction is begun, so each read commits alone.
        # An idle connection that needs no I/O to hand over is checked out in place.
        pool = self.engine.sync_engine.pool
        pooled = pool.connect_now() if isinstance(pool, IdleClosingPool) else None
        if pooled is None:
            pooled = await self.engine.raw_connection()
        try:
            adapted: Any = pooled.dbapi_connection
            try:
                # The dialect's per-connection cache of asyncpg prepared statements.
                prepared, attributes = await adapted._prepare(sql, self._schema_cache_asof())
                records = await prepared.fetch(*parameters)
            except Exception as error:
                await greenlet_spawn(self._raise, error, sql, parameters, pooled)
            except BaseException:
                # Cancelled mid-statement, as SQLAlchemy does: the connection's state is
                # unknown, so it is not reused.
                await greenlet_spawn(pooled.invalidate)
                raise
        finally:
            if isinstance(pool, IdleClosingPool):
                # Checked in without the greenlet the async engine would spawn (~50 µs of
                # CPU right after a read's I/O, more than the rest of a one-row read's
                # Python): it needs no I/O, since no transaction was begun (the reset's
                # rollback does nothing) and this pool's queue holds its whole ceiling
                # (a check-in never closes a connection).
                pooled.close()
            else:
                await greenlet_spawn(pooled.close)
        converters = self._converters.get(compiled)
        if converters is None:
            converters = self._converters[compiled] = self._result_converters(compiled, attributes)
        if not any(converters):
            return [tuple(record) for record in records]
        return [
            tuple(value if convert is None else convert(value) for convert, value in pairs)
            for pairs in (zip(converters, record, strict=True) for record in records)
        ]

    def _schema_cache_asof(self) -> float:
        # When the dialect last saw the schema change: older prepared statements are
        # prepared again (asyncpg's "cached statement plan is invalid").
        asof: float = getattr(self._dialect, "_invalidate_schema_cache_asof", 0.0)
        return asof

    def _result_converters(self, compiled: Compiled, attributes: Any) -> tuple[_Convert, ...]:
        """Each column's result processor, as SQLAlchemy's result would apply it (by the
        column's type and the server's type of the value: a numeric read as a float)."""
        assert isinstance(compiled, SQLCompiler)
        return tuple(
            column.type._cached_result_processor(self._dialect, attribute.type.oid)
            for column, attribute in zip(compiled._result_columns, attributes, strict=True)
        )

    def _raise(
        self, error: Exception, sql: str, parameters: list[Any], pooled: PoolProxiedConnection
    ) -> NoReturn:
        """Raises `error` as `Connection.execute` would have: translated to the DBAPI's
        error, wrapped in a `DBAPIError`, the connection (and the pool's older ones)
        invalidated when the error says it is dead. Runs in a greenlet: invalidating
        closes the connection."""
        dialect = self._dialect
        adapted: Any = pooled.dbapi_connection
        try:
            adapted._handle_exception(error)
        except dialect.loaded_dbapi.Error as translated:
            dead = bool(dialect.is_disconnect(translated, adapted, None))
            wrapped = DBAPIError.instance(
                sql,
                parameters,
                translated,
                dialect.loaded_dbapi.Error,
                hide_parameters=self.engine.sync_engine.hide_parameters,
                connection_invalidated=dead,
                dialect=dialect,
            )
            if dead:
                self.engine.sync_engine.pool._invalidate(pooled, translated)
            raise wrapped from error
        raise AssertionError("the dialect re-raises every error")

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
