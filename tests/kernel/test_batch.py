"""The batched-read helpers against real PostgreSQL: order, duplicates, malformed keys."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Integer, String, Uuid, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from coursegraph.batch import count_by_key, load_by_key, rows_by_key
from coursegraph.db import Database, create_engine, schema_metadata
from coursegraph.errors import BadUserInput
from coursegraph.ids import parse_uuid, require_uuid
from coursegraph.settings import Settings

SCHEMA = f"batch_test_{secrets.token_hex(3)}"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)


class Thing(Base):
    __tablename__ = "things"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    parent_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    code: Mapped[str] = mapped_column(String(20))
    position: Mapped[int] = mapped_column(Integer)


PARENT_A, PARENT_B, NOBODY = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
A2, A1, B1 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
ROWS = [(A2, PARENT_A, "a2", 2), (A1, PARENT_A, "a1", 1), (B1, PARENT_B, "b1", 1)]


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    database = Database(create_engine(settings.database_url_for("users"), pool_size=2))
    async with database.engine.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
        await connection.run_sync(Base.metadata.create_all)
    async with database.transaction() as session:
        session.add_all(Thing(id=i, parent_id=p, code=c, position=n) for i, p, c, n in ROWS)
    yield database
    async with database.engine.begin() as connection:
        await connection.execute(text(f'DROP SCHEMA "{SCHEMA}" CASCADE'))
    await database.dispose()


async def test_one_per_key_in_the_keys_order_absent_and_malformed_read_as_none(
    database: Database,
) -> None:
    keys = [str(B1), "not-a-uuid", str(A2), str(NOBODY), str(B1), str(A1)]
    found = await load_by_key(database, select(Thing), Thing.id, keys)
    assert [t.code if t else None for t in found] == ["b1", None, "a2", None, "b1", "a1"]
    assert await load_by_key(database, select(Thing), Thing.id, []) == []


async def test_rows_one_per_key_as_the_orm_reads_them(database: Database) -> None:
    keys = [str(B1), "not-a-uuid", str(A2), str(NOBODY), str(B1), str(A1)]
    statement = select(Thing.id, Thing.code)
    found = await rows_by_key(database, statement, Thing.id, keys)
    assert [tuple(row) if row else None for row in found] == [
        (B1, "b1"),
        None,
        (A2, "a2"),
        None,
        (B1, "b1"),
        (A1, "a1"),
    ]
    assert await rows_by_key(database, statement, Thing.id, []) == []
    by_code = await rows_by_key(database, select(Thing.code), Thing.code, ["zz", "a1"], parse=str)
    assert [row[0] if row else None for row in by_code] == [None, "a1"]


async def test_a_statement_read_again_binds_each_reads_keys(database: Database) -> None:
    """A statement's keyed form is built once (per statement and key column): each read
    still reads its own keys."""
    statement = select(Thing.id, Thing.code)
    reads = [([str(A1)], ["a1"]), ([str(B1), str(A2)], ["b1", "a2"]), ([str(A1)], ["a1"])]
    for keys, codes in reads:
        found = await rows_by_key(database, statement, Thing.id, keys)
        assert [row[1] if row else None for row in found] == codes
    in_order = select(Thing).order_by(Thing.position)
    for parent, codes in ((PARENT_A, ["a1", "a2"]), (PARENT_B, ["b1"])):
        grouped = await load_by_key(database, in_order, Thing.parent_id, [str(parent)], many=True)
        assert [t.code for t in grouped[0]] == codes


async def test_many_per_key_keep_the_statements_order(database: Database) -> None:
    in_order = select(Thing).order_by(Thing.position)
    keys = [str(PARENT_A), str(NOBODY), "x", str(PARENT_B)]
    grouped = await load_by_key(database, in_order, Thing.parent_id, keys, many=True)
    assert [[t.code for t in group] for group in grouped] == [["a1", "a2"], [], [], ["b1"]]


async def test_string_keys_and_counts(database: Database) -> None:
    found = await load_by_key(database, select(Thing), Thing.code, ["b1", "zz"], parse=str)
    assert [t.code if t else None for t in found] == ["b1", None]
    keys = [str(PARENT_B), "x", str(PARENT_A), str(NOBODY)]
    assert await count_by_key(database, Thing.parent_id, keys) == [1, 0, 2, 0]
    assert await count_by_key(database, Thing.parent_id, keys, Thing.position > 1) == [0, 0, 1, 0]


def test_one_uuid_parser() -> None:
    value = uuid.uuid4()
    assert parse_uuid(str(value)) == value
    assert parse_uuid(value) == value
    assert parse_uuid("nope") is None
    assert require_uuid(str(value), "courseId") == value
    with pytest.raises(BadUserInput) as refused:
        require_uuid("nope", "courseId")
    assert refused.value.extensions == {"field": "courseId"}


async def test_a_string_key_longer_than_the_column_matches_nothing(database: Database) -> None:
    # Keys travel as text[]: cast to varchar(20)[] they would be cut to a false match.
    full = "c" * 20
    async with database.transaction() as session:
        session.add(Thing(id=uuid.uuid4(), parent_id=NOBODY, code=full, position=1))
    found = await load_by_key(database, select(Thing), Thing.code, [full + "x", full], parse=str)
    assert [t.code if t else None for t in found] == [None, full]
