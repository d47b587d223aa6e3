"""Browsing the catalog: keyset pages with opaque cursors, full-text search, filters."""

from __future__ import annotations

from typing import Any

import pytest

from tests.courses.api import People, Person, create_course, published_course
from tests.courses.conftest import CoursesServer
from tests.helpers import gql

COURSES = """
query($first: Int, $after: String, $search: String, $teacherId: ID, $freeOnly: Boolean) {
  courses(first: $first, after: $after, search: $search, teacherId: $teacherId,
          freeOnly: $freeOnly) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id title status isFree } }
  }
}"""


async def _browse(url: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
    result = await gql(url, COURSES, variables, token=token)
    page: dict[str, Any] = result.ok()["courses"]
    return page


async def _all_pages(url: str, first: int, **variables: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    after = None
    while True:
        page = await _browse(url, first=first, after=after, **variables)
        pages.append([e["node"]["title"] for e in page["edges"]])
        if not page["pageInfo"]["hasNextPage"]:
            return pages
        after = page["pageInfo"]["endCursor"]


async def _catalog(url: str, teacher: Person, n: int) -> list[str]:
    titles = [f"Course {i:02d}" for i in range(n)]
    for title in titles:
        await published_course(url, teacher, title)
    return titles


async def test_pages_cover_everything_once_newest_first(
    courses_server: CoursesServer, courses_url: str, people: People
) -> None:
    titles = await _catalog(courses_url, people.make("TEACHER"), 7)
    await create_course(courses_url, people.make("TEACHER"), "Hidden draft")

    courses_server.statements.reset()
    pages = await _all_pages(courses_url, first=3)
    assert pages == [titles[6:3:-1], titles[3:0:-1], titles[0:1]]
    assert not any("OFFSET" in s.upper() for s in courses_server.statements.statements)

    page = await _browse(courses_url, first=3)
    assert page["totalCount"] == 7  # drafts are not in the public catalog
    assert page["pageInfo"]["hasNextPage"] is True


async def test_a_new_course_does_not_shift_the_next_page(courses_url: str, people: People) -> None:
    teacher = people.make("TEACHER")
    titles = await _catalog(courses_url, teacher, 4)
    first = await _browse(courses_url, first=2)
    await published_course(courses_url, teacher, "Brand new")
    second = await _browse(courses_url, first=2, after=first["pageInfo"]["endCursor"])
    assert [e["node"]["title"] for e in second["edges"]] == [titles[1], titles[0]]
    assert second["pageInfo"]["hasNextPage"] is False
    assert second["totalCount"] == 5


async def test_full_text_search_ranks_title_matches_first(courses_url: str, people: People) -> None:
    teacher = people.make("TEACHER")
    await published_course(
        courses_url, teacher, "Cooking for students", description="Quick meals and budgeting."
    )
    await published_course(
        courses_url, teacher, "Async Python", description="Event loops and coroutines in Python."
    )
    await published_course(
        courses_url, teacher, "Data science", description="Pandas and Python notebooks."
    )
    await published_course(courses_url, teacher, "Python for beginners", description="Basics.")

    page = await _browse(courses_url, search="python")
    titles = [e["node"]["title"] for e in page["edges"]]
    assert set(titles) == {"Async Python", "Data science", "Python for beginners"}
    assert titles[-1] == "Data science"  # matched only in its description
    assert page["totalCount"] == 3

    # websearch syntax: quoted phrases and exclusions, stemming ("loops" ~ "loop").
    excluded = await _browse(courses_url, search="python -async")
    assert [e["node"]["title"] for e in excluded["edges"]] == [
        t for t in titles if t != "Async Python"
    ]
    loops = await _browse(courses_url, search='"event loop"')
    assert [e["node"]["title"] for e in loops["edges"]] == ["Async Python"]
    assert (await _browse(courses_url, search="knitting"))["totalCount"] == 0


async def test_search_pages_with_cursors(courses_url: str, people: People) -> None:
    teacher = people.make("TEACHER")
    for i in range(5):
        await published_course(courses_url, teacher, f"Guitar lesson {i}")
    await published_course(courses_url, teacher, "Piano lesson")
    pages = await _all_pages(courses_url, first=2, search="guitar")
    flat = [t for page in pages for t in page]
    assert sorted(flat) == [f"Guitar lesson {i}" for i in range(5)]
    assert [len(p) for p in pages] == [2, 2, 1]


async def test_filters_by_teacher_and_price(courses_url: str, people: People) -> None:
    ada, alan = people.make("TEACHER"), people.make("TEACHER")
    await published_course(courses_url, ada, "Free by Ada")
    await published_course(
        courses_url, ada, "Paid by Ada", price={"amount": "5.00", "currency": "USD"}
    )
    await published_course(courses_url, alan, "Free by Alan")
    await create_course(courses_url, ada, "Draft by Ada")

    def titles(page: dict[str, Any]) -> set[str]:
        return {e["node"]["title"] for e in page["edges"]}

    assert titles(await _browse(courses_url, teacherId=ada.id)) == {"Free by Ada", "Paid by Ada"}
    assert titles(await _browse(courses_url, freeOnly=True)) == {"Free by Ada", "Free by Alan"}
    both = await _browse(courses_url, teacherId=ada.id, freeOnly=True)
    assert titles(both) == {"Free by Ada"}
    # Ada listing her own courses also sees her draft; so does an admin.
    own = await _browse(courses_url, token=ada.token, teacherId=ada.id)
    assert titles(own) == {"Free by Ada", "Paid by Ada", "Draft by Ada"}
    assert own["totalCount"] == 3
    admin = await _browse(courses_url, token=people.admin().token, teacherId=ada.id)
    assert titles(admin) == titles(own)
    assert (await _browse(courses_url, teacherId="not-an-id"))["edges"] == []


@pytest.mark.parametrize("first", [0, -1, 101])
async def test_page_size_is_bounded(courses_url: str, first: int) -> None:
    result = await gql(courses_url, COURSES, {"first": first})
    assert result.code == "BAD_USER_INPUT"


async def test_bad_or_foreign_cursors_are_refused(courses_url: str, people: People) -> None:
    await _catalog(courses_url, people.make("TEACHER"), 3)
    for cursor in ("garbage", "eyJ4IjoxfQ", ""):
        result = await gql(courses_url, COURSES, {"first": 1, "after": cursor or "=="})
        assert result.code == "BAD_USER_INPUT"
    cursor = (await _browse(courses_url, first=1))["pageInfo"]["endCursor"]
    elsewhere = await gql(courses_url, COURSES, {"first": 1, "after": cursor, "freeOnly": True})
    assert elsewhere.code == "BAD_USER_INPUT"
    assert "different listing" in elsewhere.errors[0]["message"]


async def test_listings_of_one_shape_keep_their_own_values(
    courses_url: str, people: People
) -> None:
    """A listing's statement is built once per shape (its filters without their values):
    the teacher, the cursor and the page size bound at each read are that read's own."""
    ada, alan = people.make("TEACHER"), people.make("TEACHER")
    for i in range(3):
        await published_course(courses_url, ada, f"Ada {i}")
        await published_course(courses_url, alan, f"Alan {i}")
    for teacher, name in ((ada, "Ada"), (alan, "Alan"), (ada, "Ada")):
        pages = await _all_pages(courses_url, first=2, teacherId=teacher.id)
        assert pages == [[f"{name} 2", f"{name} 1"], [f"{name} 0"]]
        page = await _browse(courses_url, first=1, teacherId=teacher.id)
        assert [e["node"]["title"] for e in page["edges"]] == [f"{name} 2"]
        assert page["totalCount"] == 3
    everything = await _all_pages(courses_url, first=4)
    assert everything == [["Alan 2", "Ada 2", "Alan 1", "Ada 1"], ["Alan 0", "Ada 0"]]
