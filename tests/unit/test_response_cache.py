"""The router's response cache without servers: what is stored, per-entity splitting,
error paths, the memory store's tags and bounds, whole responses (router/edge/cache.py,
cache_store.py, whole.py; through a router: tests/router/test_whole_response.py).
The end-to-end behaviour (real subgraphs, NATS, Redis) is tests/e2e/test_response_cache.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from router.config import ResponseCacheConfig
from router.edge.cache import (
    Policy,
    ResponseCache,
    Seen,
    entry_body,
    entry_value,
    invalidation_tags,
    note_entry,
)
from router.edge.cache_store import MemoryStore, Put
from router.edge.whole import Keeping, WholeResponses
from router.http import SubgraphAnswer, SubgraphEndpoint
from router.stage import StoredResponse
from router.types import JSONObject

ENTITY_QUERY = (
    "query($representations:[_Any!]!)"
    "{_entities(representations:$representations){...on User{name}}}"
)


class Subgraph:
    """A subgraph stand-in that records what it was sent and answers like the real one:
    a name per representation, with the cache headers the hints would give."""

    def __init__(self, name: str, cache_control: str | None = "max-age=60, public") -> None:
        self.endpoint = SubgraphEndpoint(name, "http://127.0.0.1:1/graphql", 1.0)
        self.sent: list[JSONObject] = []
        self.cache_control = cache_control
        self.errors: list[JSONObject] = []

    async def request(
        self, payload: JSONObject, headers: Mapping[str, str], *, idempotent: bool
    ) -> JSONObject:
        self.sent.append(payload)
        reps = (payload.get("variables") or {}).get("representations")
        data: JSONObject = (
            {"_entities": [{"name": f"name of {r['id']}"} for r in reps]}
            if reps is not None
            else {"courses": [{"title": "t"}]}
        )
        body: JSONObject = {"data": data}
        if self.errors:
            body["errors"] = self.errors
        return SubgraphAnswer(body, 1, self.cache_control, "Course")


def cache(nats: str | None = "nats://127.0.0.1:1") -> ResponseCache:
    made = ResponseCache(ResponseCacheConfig(enabled=True), MemoryStore(100), nats)
    made.listening = True  # as once subscribed
    return made


def entities(*ids: str) -> JSONObject:
    reps = [{"__typename": "User", "id": i} for i in ids]
    return {"query": ENTITY_QUERY, "variables": {"representations": reps}}


async def fetch(
    made: ResponseCache, subgraph: Subgraph, payload: JSONObject, token: str | None = None
) -> Any:
    headers = {"authorization": token} if token else {}
    return await made.fetch(subgraph, payload, headers, True)  # type: ignore[arg-type]


async def test_only_the_missing_entities_are_asked_for_and_the_order_is_kept() -> None:
    made, users = cache(), Subgraph("users")
    await fetch(made, users, entities("a", "b"))
    answer = await fetch(made, users, entities("c", "a", "b"))
    assert [e["name"] for e in answer["data"]["_entities"]] == [
        "name of c",
        "name of a",
        "name of b",
    ]
    assert users.sent[-1]["variables"]["representations"] == [{"__typename": "User", "id": "c"}]
    await fetch(made, users, entities("b", "c"))
    assert len(users.sent) == 2  # all three known now
    assert made.counts[("users", "entity", "hit")] == 4


async def test_an_entity_error_keeps_its_place_and_nothing_is_stored() -> None:
    made, users = cache(), Subgraph("users")
    await fetch(made, users, entities("a"))
    users.errors = [{"message": "boom", "path": ["_entities", 0, "name"]}]
    answer = await fetch(made, users, entities("a", "b"))
    assert answer["errors"][0]["path"] == ["_entities", 1, "name"]
    users.errors = []
    await fetch(made, users, entities("b"))
    assert users.sent[-1]["variables"]["representations"] == [{"__typename": "User", "id": "b"}]


async def test_private_answers_need_a_viewer_and_stay_with_it() -> None:
    made, users = cache(), Subgraph("users", "max-age=60, private")
    await fetch(made, users, entities("a"))  # anonymous: not stored
    await fetch(made, users, entities("a"), token="Bearer one")
    await fetch(made, users, entities("a"), token="Bearer one")
    await fetch(made, users, entities("a"), token="Bearer two")
    assert len(users.sent) == 3
    assert made.counts[("users", "entity", "hit")] == 1


async def test_anonymous_public_entries_are_not_served_to_signed_in_viewers() -> None:
    made, courses = cache(), Subgraph("courses")
    query: JSONObject = {"query": "{ courses { title } }"}
    await fetch(made, courses, query)
    await fetch(made, courses, query, token="Bearer one")
    await fetch(made, courses, query, token="Bearer two")  # PUBLIC: shared when signed in
    await fetch(made, courses, query)
    assert len(courses.sent) == 2


@pytest.mark.parametrize("header", [None, "no-store", "max-age=0, public", "max-age=x"])
async def test_answers_without_a_max_age_are_not_stored(header: str | None) -> None:
    made, courses = cache(), Subgraph("courses", header)
    query: JSONObject = {"query": "{ courses { title } }"}
    await fetch(made, courses, query)
    await fetch(made, courses, query)
    assert len(courses.sent) == 2


async def test_mutations_and_uncached_subgraphs_pass_through() -> None:
    made = cache()
    payments = Subgraph("payments")
    query: JSONObject = {"query": "{ payment { id } }"}
    for _ in range(2):
        await fetch(made, payments, query)
    courses = Subgraph("courses")
    for _ in range(2):
        await made.fetch(courses, query, {}, False)  # type: ignore[arg-type]
    assert (len(payments.sent), len(courses.sent)) == (2, 2)
    assert not made.counts


async def test_an_event_drops_what_it_names_and_an_answer_fetched_across_it() -> None:
    made, users = cache(), Subgraph("users")
    await fetch(made, users, entities("a", "b"))
    assert await made.invalidate(("User:a",)) == 1
    await fetch(made, users, entities("a", "b"))
    assert users.sent[-1]["variables"]["representations"] == [{"__typename": "User", "id": "a"}]
    # The type tag the subgraph listed ("Course") drops every entry that holds a course.
    assert await made.invalidate(("Course:zzz",)) == 2

    class Racing(Subgraph):
        async def request(self, *args: Any, **kwargs: Any) -> JSONObject:
            await made.invalidate(("Nothing:1",))  # arrives while the fetch is out
            return await super().request(*args, **kwargs)

    racing = Racing("users")
    await fetch(made, racing, entities("c"))
    await fetch(made, racing, entities("c"))
    assert len(racing.sent) == 2


async def test_without_events_entries_live_one_second_at_most() -> None:
    made = cache(nats=None)
    assert made._ttl(Policy(300, False)) == 1.0


async def test_nothing_is_read_or_stored_while_events_cannot_arrive() -> None:
    made, courses = cache(), Subgraph("courses")
    made.listening = False
    query: JSONObject = {"query": "{ courses { title } }"}
    await fetch(made, courses, query)
    made.listening = True
    await fetch(made, courses, query)
    assert len(courses.sent) == 2


def test_cache_control_parsing() -> None:
    assert Policy.parse("max-age=60, public") is not None
    parsed = Policy.parse("private, max-age=5")
    assert parsed is not None
    assert (parsed.max_age, parsed.private) == (5, True)
    for header in (None, "", "public", "no-store, max-age=60", "max-age=-1"):
        assert Policy.parse(header) is None


def test_an_event_entity_drops_its_tag_and_its_type() -> None:
    assert invalidation_tags(("Course:1", "User:2")) == {"Course:1", "Course", "User:2", "User"}


async def test_the_memory_store_is_bounded_and_forgets_tags_of_evicted_entries() -> None:
    store = MemoryStore(2)
    await store.put_many([Put(k, k.encode(), 60, ("T",)) for k in ("a", "b", "c")])
    assert await store.get_many(["a", "b", "c"]) == [None, b"b", b"c"]
    assert len(store) == 2
    assert await store.invalidate(["T"]) == 2
    assert await store.get_many(["b"]) == [None]
    await store.put_many([Put("d", b"d", 0, ())])  # expired at once
    assert await store.get_many(["d"]) == [None]
    small = MemoryStore(100, max_bytes=10)
    await small.put_many([Put("a", b"12345", 60, ()), Put("b", b"123456", 60, ())])
    assert await small.get_many(["a", "b"]) == [None, b"123456"]
    assert small.bytes == 6


# ---------------------------------------------------------------- whole responses


async def whole_fetches(made: ResponseCache, token: str | None = None) -> Keeping | None:
    """A page of one root fetch (courses) and one entity fetch (users) through the whole
    layer; its keeper, or None when a kept answer was found."""
    found = await WholeResponses(made).lookup(("state", "{ page }"), _headers(token))
    if found is None or isinstance(found, StoredResponse):
        return None
    assert isinstance(found, Keeping)
    courses, users = Subgraph("courses"), Subgraph("users")
    await found.fetch(courses, {"query": "{ courses { title } }"}, _headers(token), True)  # type: ignore[arg-type]
    await found.fetch(users, entities("a"), _headers(token), True)  # type: ignore[arg-type]
    return found


def _headers(token: str | None) -> dict[str, str]:
    return {"authorization": token} if token else {}


async def test_a_page_is_kept_until_its_first_entry_expires_under_all_their_tags() -> None:
    made = cache()
    keeper = await whole_fetches(made)
    assert keeper is not None
    assert keeper.seen.public
    assert keeper.seen.tags == {"Course", "User:a"}
    first_expiry = keeper.seen.expires
    await keeper.keep(b'{"data":{}}', 3)
    assert await whole_fetches(made) is None  # kept: found before any fetch
    found = await WholeResponses(made).lookup(("state", "{ page }"), {})
    assert found == StoredResponse(b'{"data":{}}', 3)
    assert await made.invalidate(("User:a",)) == 2  # the entity entry and the page
    # Built again, from the courses entry still kept: its expiry and tags come with it.
    keeper = await whole_fetches(made)
    assert keeper is not None
    assert keeper.seen.tags == {"Course", "User:a"}
    assert keeper.seen.expires == first_expiry
    assert made.counts[("courses", "root", "hit")] == 1


async def test_a_page_is_not_kept_across_an_invalidation_or_from_a_private_entry() -> None:
    made = cache()
    keeper = await whole_fetches(made)
    assert keeper is not None
    await made.invalidate(("Nothing:1",))
    await keeper.keep(b"{}", 1)
    assert made.counts[("", "response", "store")] == 0
    private = cache()
    users = Subgraph("users", "max-age=60, private")
    found = await WholeResponses(private).lookup(("s",), {"authorization": "Bearer one"})
    assert isinstance(found, Keeping)
    await found.fetch(users, entities("a"), {"authorization": "Bearer one"}, True)  # type: ignore[arg-type]
    assert not found.seen.public


def test_an_entry_carries_its_expiry_and_tags_before_the_answer() -> None:
    value = entry_value(b'{"name":"a\\nb"}', 12.5, ["User:a\nb"])
    assert entry_body(value) == b'{"name":"a\\nb"}'
    seen = Seen()
    note_entry(seen, value)
    assert (seen.expires, seen.tags) == (12.5, {"User:a\nb"})
