"""totalCount at catalog scale: the whole catalog's counts are kept by a trigger (exact
through every write, concurrent ones too); a search lists and counts its newest
SEARCH_CANDIDATES matches, ranked."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import select, text

from subgraphs.courses.bootstrap import CoursesContainer
from subgraphs.courses.models import CourseCount
from subgraphs.courses.service import SEARCH_CANDIDATES
from tests.courses.api import (
    ARCHIVE,
    PUBLISH,
    UPDATE_COURSE,
    People,
    add_lecture,
    add_section,
    create_course,
    published_course,
)
from tests.helpers import gql

TOTAL = """
query($search: String, $freeOnly: Boolean, $first: Int = 1, $after: String) {
  courses(first: $first, search: $search, freeOnly: $freeOnly, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { title } }
  }
}"""
PAID = {"price": {"amount": "9.00", "currency": "USD"}}
FREE = {"price": None}


async def _total(url: str, **variables: Any) -> int:
    total: int = (await gql(url, TOTAL, variables)).ok()["courses"]["totalCount"]
    return total


async def _kept_and_actual(
    container: CoursesContainer,
) -> tuple[dict[tuple[str, bool], int], dict[tuple[str, bool], int]]:
    async with container.database.read() as session:
        kept = {
            (row.status, row.is_free): row.courses
            for row in await session.scalars(select(CourseCount))
            if row.courses
        }
        rows = await session.execute(
            text(
                "SELECT status, price_amount_minor IS NULL, count(*) FROM courses.courses"
                " GROUP BY 1, 2"
            )
        )
        actual = {(status, free): int(n) for status, free, n in rows}
    return kept, actual


async def test_counts_follow_every_kind_of_write(
    courses_url: str, people: People, container: CoursesContainer
) -> None:
    teacher = people.make("TEACHER")
    paid = await published_course(courses_url, teacher, "Paid one", **PAID)
    free = await published_course(courses_url, teacher, "Free one")
    await create_course(courses_url, teacher, "A draft")
    assert (await _total(courses_url), await _total(courses_url, freeOnly=True)) == (2, 1)

    changed = await gql(
        courses_url, UPDATE_COURSE, {"id": paid["id"], "input": FREE}, token=teacher.token
    )
    changed.ok()
    assert (await _total(courses_url), await _total(courses_url, freeOnly=True)) == (2, 2)

    (await gql(courses_url, ARCHIVE, {"id": free["id"]}, token=teacher.token)).ok()
    assert (await _total(courses_url), await _total(courses_url, freeOnly=True)) == (1, 1)

    async with container.database.transaction() as session:
        await session.execute(
            text("DELETE FROM courses.courses WHERE id = :id"), {"id": paid["id"]}
        )
    assert await _total(courses_url) == 0
    kept, actual = await _kept_and_actual(container)
    assert kept == actual == {("ARCHIVED", True): 1, ("DRAFT", True): 1}

    # TRUNCATE fires no row trigger; its own trigger empties the counts.
    async with container.database.transaction() as session:
        await session.execute(text("TRUNCATE courses.courses CASCADE"))
    assert await _kept_and_actual(container) == ({}, {})
    await published_course(courses_url, teacher, "After truncate")
    assert await _total(courses_url) == 1


async def test_counts_stay_exact_through_concurrent_writes(
    courses_url: str,
    people: People,
    container: CoursesContainer,
) -> None:
    teacher = people.make("TEACHER")
    published = [
        await published_course(courses_url, teacher, f"Course {i}", **(PAID if i % 2 else {}))
        for i in range(8)
    ]
    drafts = [await create_course(courses_url, teacher, f"Draft {i}") for i in range(3)]
    for draft in drafts[1:]:
        section = await add_section(courses_url, teacher, draft["id"])
        await add_lecture(courses_url, teacher, section["id"])

    async def api(query: str, variables: dict[str, Any]) -> None:
        (await gql(courses_url, query, variables, token=teacher.token)).ok()

    async def delete(course_id: str) -> None:
        async with container.database.transaction() as session:
            await session.execute(
                text("DELETE FROM courses.courses WHERE id = :id"), {"id": course_id}
            )

    ids = [c["id"] for c in published]
    writes = [
        # Price changes in both directions at once: the count rows are locked in one
        # order by every transaction, so none deadlocks.
        *(api(UPDATE_COURSE, {"id": i, "input": FREE}) for i in ids[1:4:2]),
        *(api(UPDATE_COURSE, {"id": i, "input": PAID}) for i in ids[0:4:2]),
        api(ARCHIVE, {"id": ids[4]}),
        api(ARCHIVE, {"id": ids[5]}),
        delete(ids[6]),
        delete(ids[7]),
        api(PUBLISH, {"id": drafts[1]["id"]}),
        api(PUBLISH, {"id": drafts[2]["id"]}),
        delete(drafts[0]["id"]),
        *(delete(str(uuid.uuid4())) for _ in range(2)),
    ]
    await asyncio.gather(*writes)
    kept, actual = await _kept_and_actual(container)
    assert kept == actual
    assert sum(actual.values()) == len(published) + len(drafts) - 3
    assert await _total(courses_url) == sum(n for (s, _), n in actual.items() if s == "PUBLISHED")


async def _insert_matches(container: CoursesContainer, teacher_id: str, count: int) -> None:
    """`count` published courses about zithers, course 1 the newest; every tenth has the
    word in its title, the others only in the description."""
    async with container.database.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO courses.courses (id, slug, title, description, status,"
                " teacher_id, created_at, published_at)"
                " SELECT gen_random_uuid(), 'zither-' || i,"
                "   CASE WHEN i % 10 = 0 THEN 'Zither ' || i ELSE 'Strings ' || i END,"
                "   'Plucked instruments: the zither and friends.', 'PUBLISHED', :teacher,"
                "   now() - i * interval '1 minute', now()"
                " FROM generate_series(1, :count) AS i"
            ),
            {"teacher": teacher_id, "count": count},
        )


async def test_search_ranks_and_counts_its_newest_candidates(
    courses_url: str, people: People, container: CoursesContainer
) -> None:
    extra = 5
    await _insert_matches(container, people.make("TEACHER").id, SEARCH_CANDIDATES + extra)
    # The whole catalog's count knows them all; the search lists its bounded candidates.
    assert await _total(courses_url) == SEARCH_CANDIDATES + extra
    assert await _total(courses_url, search="zither") == SEARCH_CANDIDATES

    seen: list[str] = []
    after = None
    while True:
        variables = {"search": "zither", "first": 100, "after": after}
        page = (await gql(courses_url, TOTAL, variables)).ok()["courses"]
        seen.extend(e["node"]["title"] for e in page["edges"])
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
    # Past the last candidate the page's query finds no row to carry the count.
    beyond = await gql(courses_url, TOTAL, {"search": "zither", "first": 5, "after": after})
    assert beyond.ok()["courses"]["edges"] == []
    assert beyond.ok()["courses"]["totalCount"] == SEARCH_CANDIDATES
    numbers = [int(title.split()[1]) for title in seen]
    # Every candidate once: the newest SEARCH_CANDIDATES, none of the older ones.
    assert sorted(numbers) == list(range(1, SEARCH_CANDIDATES + 1))
    # Ranked: the title matches come first, newest first among equals.
    title_matches = SEARCH_CANDIDATES // 10
    assert numbers[:title_matches] == list(range(10, SEARCH_CANDIDATES + 1, 10))
    assert all(title.startswith("Strings") for title in seen[title_matches:])
