"""Search reads its candidates block by block of creation time (migration courses_0005):
the same rows as sorting every match, whatever the spread of the catalog; the search
follows every write in its own transaction; the migration goes down and up again."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from coursegraph.database import create_database, drop_database
from coursegraph.embedded_pg import with_database
from coursegraph.settings import Settings
from launcher import migrations, subgraph_registry
from tests.courses.api import (
    ARCHIVE,
    PUBLISH,
    UPDATE_COURSE,
    People,
    add_lecture,
    add_section,
    create_course,
)
from tests.helpers import gql

SEARCH = """
query($search: String, $teacherId: ID, $freeOnly: Boolean, $first: Int = 50, $after: String) {
  courses(first: $first, search: $search, teacherId: $teacherId, freeOnly: $freeOnly,
          after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id title } }
  }
}"""
WORDS = ["zither", "lute", "oboe", "harp", "tuba"]
# Ages from seconds to years, and ties: every level of the blocks is crossed.
UNITS = ["seconds", "minutes", "hours", "days", "years"]
MATCHES = """
SELECT id FROM courses.search_matches(websearch_to_tsquery('english', $1), $2, $3, $4, $5)
"""
SORTED = """
SELECT id FROM courses.courses
WHERE search @@ websearch_to_tsquery('english', $1) AND status = ANY ($2)
  AND ($3::uuid IS NULL OR teacher_id = $3) AND (NOT $4 OR price_amount_minor IS NULL)
ORDER BY created_at DESC, id DESC LIMIT $5
"""


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _insert_spread(url: str, teachers: list[uuid.UUID], count: int) -> None:
    rng = random.Random(5)
    rows = []
    for i in range(count):
        # Two units each: some courses share a created_at and the id breaks the tie.
        age = " ".join(f"{rng.randint(0, 9)} {unit}" for unit in rng.sample(UNITS, 2))
        words = rng.sample(WORDS, 2)
        rows.append(
            (
                f"spread-{i}",
                f"{words[0].title()} course {i}",
                f"All about the {words[1]}.",
                rng.choice(["PUBLISHED", "PUBLISHED", "DRAFT", "ARCHIVED"]),
                rng.choice(teachers),
                age,
                rng.random() < 0.5,
            )
        )
    connection = await asyncpg.connect(_plain(url))
    try:
        await connection.executemany(
            "INSERT INTO courses.courses (id, slug, title, description, status, teacher_id,"
            " created_at, price_amount_minor, currency)"
            " VALUES (gen_random_uuid(), $1, $2, $3, $4, $5,"
            " timestamptz '2026-06-01' - $6::text::interval,"
            " CASE WHEN $7 THEN NULL ELSE 900 END, CASE WHEN $7 THEN NULL ELSE 'USD' END)",
            rows,
        )
    finally:
        await connection.close()


async def test_matches_are_the_newest_matches_of_a_full_sort(
    courses_url: str, settings: Settings
) -> None:
    teachers = [uuid.uuid4(), uuid.uuid4()]
    url = settings.database_url_for("courses")
    await _insert_spread(url, teachers, 600)
    connection = await asyncpg.connect(_plain(url))
    try:
        spread = await connection.fetchval(
            "SELECT max(created_at) - min(created_at) FROM courses.courses"
        )
        assert spread.days > 3000
        compared = 0
        for search in ["zither", "lute -harp", '"tuba course"', "oboe harp", "violin"]:
            for statuses in (["PUBLISHED"], ["PUBLISHED", "DRAFT", "ARCHIVED"]):
                for teacher in (None, teachers[0]):
                    for free_only in (False, True):
                        for bound in (1, 7, 60, 1000):
                            args = (search, statuses, teacher, free_only, bound)
                            expected = await connection.fetch(SORTED, *args)
                            assert await connection.fetch(MATCHES, *args) == expected, args
                            compared += len(expected)
        assert compared > 2000
    finally:
        await connection.close()


async def _titles(url: str, token: str | None = None, **variables: Any) -> list[str]:
    page = (await gql(url, SEARCH, variables, token=token)).ok()["courses"]
    return [edge["node"]["title"] for edge in page["edges"]]


async def test_search_follows_every_write(courses_url: str, people: People) -> None:
    teacher = people.make("TEACHER")
    course = await create_course(courses_url, teacher, "Lute for beginners")
    await add_lecture(
        courses_url, teacher, (await add_section(courses_url, teacher, course["id"]))["id"]
    )
    # A draft is no public match; its teacher finds it in their own listing.
    assert await _titles(courses_url, search="lute") == []
    own = await _titles(courses_url, teacher.token, search="lute", teacherId=teacher.id)
    assert own == ["Lute for beginners"]

    (await gql(courses_url, PUBLISH, {"id": course["id"]}, token=teacher.token)).ok()
    assert await _titles(courses_url, search="lute") == ["Lute for beginners"]

    async def update(**changes: Any) -> None:
        variables = {"id": course["id"], "input": changes}
        (await gql(courses_url, UPDATE_COURSE, variables, token=teacher.token)).ok()

    await update(title="Oboe for beginners")
    assert await _titles(courses_url, search="lute") == []
    assert await _titles(courses_url, search="oboe") == ["Oboe for beginners"]

    await update(description="Reeds, breath and the harp's cousin.")
    assert await _titles(courses_url, search="reeds") == ["Oboe for beginners"]

    assert await _titles(courses_url, search="oboe", freeOnly=True) == ["Oboe for beginners"]
    await update(price={"amount": "9.00", "currency": "USD"})
    assert await _titles(courses_url, search="oboe", freeOnly=True) == []
    assert await _titles(courses_url, search="oboe") == ["Oboe for beginners"]

    (await gql(courses_url, ARCHIVE, {"id": course["id"]}, token=teacher.token)).ok()
    assert await _titles(courses_url, search="oboe") == []
    own = await _titles(courses_url, teacher.token, search="oboe", teacherId=teacher.id)
    assert own == ["Oboe for beginners"]


async def test_teacher_search_pages_with_cursors(
    courses_url: str, people: People, settings: Settings
) -> None:
    teacher = people.make("TEACHER")
    url = settings.database_url_for("courses")
    await _insert_spread(url, [uuid.UUID(teacher.id), uuid.uuid4()], 300)
    variables = {"search": "harp", "teacherId": teacher.id, "first": 7}
    seen: list[str] = []
    after = None
    while True:
        result = await gql(courses_url, SEARCH, {**variables, "after": after}, token=teacher.token)
        page = result.ok()["courses"]
        seen.extend(edge["node"]["id"] for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    connection = await asyncpg.connect(_plain(url))
    try:
        every = ["PUBLISHED", "DRAFT", "ARCHIVED"]
        expected = await connection.fetch(SORTED, "harp", every, teacher.id, False, 1000)
    finally:
        await connection.close()
    assert len(seen) == len(set(seen)) == page["totalCount"] == len(expected) > 7
    assert set(seen) == {str(row["id"]) for row in expected}


@pytest.fixture
def fresh_database(database_server_url: str) -> Iterator[str]:
    name = f"coursegraph_search_{uuid.uuid4().hex[:8]}"
    asyncio.run(create_database(database_server_url, name))
    yield with_database(database_server_url, name)
    asyncio.run(drop_database(database_server_url, name))


def test_the_migration_goes_down_and_up(fresh_database: str) -> None:
    for subgraph in subgraph_registry.available():
        migrations.upgrade(subgraph, fresh_database)

    async def columns() -> set[str]:
        connection = await asyncpg.connect(_plain(fresh_database))
        try:
            rows = await connection.fetch(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = 'courses' AND table_name = 'courses'"
            )
            return {row["column_name"] for row in rows}
        finally:
            await connection.close()

    assert "search_blocks" in asyncio.run(columns())
    migrations.downgrade("courses", fresh_database, "courses_0004")
    assert "search_blocks" not in asyncio.run(columns())
    migrations.upgrade("courses", fresh_database)
    assert "search_blocks" in asyncio.run(columns())
