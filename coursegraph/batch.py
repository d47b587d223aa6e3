"""Batched reads for DataLoaders: keys → one `WHERE key IN (…)` → values in the keys' order.

Every loader of every subgraph has this shape; written once here so the edge cases are
handled once: a key that does not parse (a malformed id) or matches nothing reads as
absent (None, [] or 0), duplicate keys each get their value, and no key means no query.

The keys travel as one array parameter (`key = ANY($1)`), not as an `IN ($1, …, $n)`
list, which SQLAlchemy renders anew for every execution and PostgreSQL prepares again for
every number of keys (docs/benchmarks-log.md, "Where the CPU goes"). The statements given are
meant to be built once (module constants): their keyed form is then built once too, and
SQLAlchemy computes its cache key once (memoized on the statement) instead of on every read.
"""

from __future__ import annotations

import functools
import typing
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, Literal, TypeVar, TypeVarTuple, overload

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Text,
    TextClause,
    any_,
    bindparam,
    cast,
    func,
    select,
)
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.types import ARRAY

from coursegraph.db import Database
from coursegraph.ids import parse_uuid

T = TypeVar("T")
Ts = TypeVarTuple("Ts")
# Turns a loader key into the column's value (None: matches nothing). Ids by default.
Parse = Callable[[str], Hashable | None]


def _matches(column: InstrumentedAttribute[Any], texts: Any) -> ColumnElement[bool]:
    if isinstance(column.type, String):
        # Compared as text: a cast to varchar(n)[] would cut longer keys to a false match.
        return column == any_(texts)
    return column == any_(cast(texts, _array_type(column)))


_TEXT_ARRAY = ARRAY(Text)
# The loaders' keys, bound at execution (`key_params`) to the condition `keys_in` built once.
_KEYS = "batch_keys"


@functools.cache
def keys_in(column: InstrumentedAttribute[Any], name: str = _KEYS) -> ColumnElement[bool]:
    """`column = ANY($name::text[]::<type>[])`, the values bound at execution as one array
    of text (`key_params(values, name)`), which PostgreSQL casts: asyncpg knows the text[] codec;
    for any other array type (uuid[]) it asks the server on each new connection (a
    recursive catalog query). Built once per column and name, since building the condition
    anew (the array literal, its cast, `ANY`) cost more than the rest of a batched read's
    Python, ~80 µs a read."""
    return _matches(column, bindparam(name, type_=_TEXT_ARRAY))


def key_params(values: Iterable[Any], name: str = _KEYS) -> dict[str, list[str]]:
    """The parameter of `keys_in(column, name)`."""
    return {name: [str(v) for v in values]}


@functools.lru_cache(maxsize=256)
def _keyed(statement: Select[Any], key: InstrumentedAttribute[Any]) -> Select[Any]:
    # Per statement object and key: a statement built anew for each read would make its
    # cache key be computed (the statement's whole tree walked) on every read.
    return statement.where(keys_in(key))


@functools.cache
def _array_type(column: InstrumentedAttribute[Any]) -> ARRAY[Any]:
    # One type object per column: a new one would make every statement's cache key new,
    # and SQLAlchemy would compile the statement again each time.
    return ARRAY(column.type)


@overload
async def load_by_key(
    database: Database,
    statement: Select[T],
    key: InstrumentedAttribute[Any],
    keys: Sequence[str],
    *,
    many: Literal[False] = False,
    parse: Parse = parse_uuid,
) -> list[T | None]: ...


@overload
async def load_by_key(
    database: Database,
    statement: Select[T],
    key: InstrumentedAttribute[Any],
    keys: Sequence[str],
    *,
    many: Literal[True],
    parse: Parse = parse_uuid,
) -> list[list[T]]: ...


async def load_by_key(
    database: Database,
    statement: Select[T],
    key: InstrumentedAttribute[Any],
    keys: Sequence[str],
    *,
    many: bool = False,
    parse: Parse = parse_uuid,
) -> list[T | None] | list[list[T]]:
    """The rows of `statement` whose `key` attribute matches each of `keys`, in order:
    one row (or None) per key, or with `many` every row (in the statement's order)."""
    parsed = [parse(k) for k in keys]
    wanted = {p for p in parsed if p is not None}
    grouped: dict[Hashable, list[T]] = defaultdict(list)
    if wanted:
        async with database.read() as session:
            for row in await session.scalars(_keyed(statement, key), key_params(wanted)):
                grouped[getattr(row, key.key)].append(row)
    if many:
        return [grouped.get(p, []) if p is not None else [] for p in parsed]
    return [found[0] if p is not None and (found := grouped.get(p)) else None for p in parsed]


async def rows_by_key(
    database: Database,
    statement: Select[*Ts],
    key: InstrumentedAttribute[Any],
    keys: Sequence[str],
    *,
    parse: Parse = parse_uuid,
) -> list[tuple[*Ts] | None]:
    """`load_by_key` for one row per key read as Core rows (`Database.rows`): no ORM
    session, identity map or instances, a third of the CPU of a hot loader's read
    (docs/benchmarks-log.md, "Subgraph kernel per request"). `statement` selects columns,
    `key`'s among them under its own name."""
    parsed = [parse(k) for k in keys]
    wanted = {p for p in parsed if p is not None}
    found: dict[Hashable, tuple[*Ts]] = {}
    if wanted:
        at = _position(statement, key.key)
        for row in await database.rows(_keyed(statement, key), key_params(wanted)):
            found.setdefault(row[at], typing.cast("tuple[*Ts]", row))
    return [found.get(p) if p is not None else None for p in parsed]


@functools.lru_cache(maxsize=64)
def _position(statement: Select[Any], name: str) -> int:
    # Per statement (the loaders' statements are module constants): listing a statement's
    # columns costs more than the rest of a 20-key read's Python.
    return list(statement.selected_columns.keys()).index(name)


async def rows_grouped_by_key(
    database: Database,
    statement: Select[Any],
    key: InstrumentedAttribute[Any],
    keys: Sequence[str],
    make: Callable[[Sequence[Any]], T],
    key_of: Callable[[T], Hashable],
) -> list[list[T]]:
    """`load_by_key` through `Database.rows` (Core rows, as `rows_by_key`): for each of
    `keys` (ids), in order, the rows of `statement` whose `key` matches, made into
    `make(row)` and grouped by `key_of` of what it made."""
    parsed = [parse_uuid(k) for k in keys]
    wanted = {p for p in parsed if p is not None}
    grouped: dict[Hashable, list[T]] = defaultdict(list)
    if wanted:
        for row in await database.rows(_keyed(statement, key), key_params(wanted)):
            item = make(row)
            grouped[key_of(item)].append(item)
    return [grouped.get(p, []) if p is not None else [] for p in parsed]


async def count_by_key(
    database: Database,
    key: InstrumentedAttribute[Any],
    keys: Sequence[str],
    *where: ColumnElement[bool] | TextClause,
    parse: Parse = parse_uuid,
) -> list[int]:
    """How many rows (matching `where`) have each of `keys` as `key`, in order."""
    parsed = [parse(k) for k in keys]
    wanted = {p for p in parsed if p is not None}
    counts: dict[Hashable, int] = {}
    if wanted:
        async with database.read() as session:
            rows = await session.execute(_counting(key, where), key_params(wanted))
            counts = {value: int(n) for value, n in rows}
    return [counts.get(p, 0) if p is not None else 0 for p in parsed]


@functools.lru_cache(maxsize=64)
def _counting(
    key: InstrumentedAttribute[Any], where: tuple[ColumnElement[bool] | TextClause, ...]
) -> Select[Any]:
    # Built once per key and conditions (constants), as `_keyed`.
    return select(key, func.count()).where(keys_in(key), *where).group_by(key)
