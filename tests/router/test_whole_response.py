"""Whole responses through a real router: stand-in subgraphs over HTTP sending the cache
headers the real ones send, events over a real NATS (router/edge/whole.py; the fetch layer
under it: tests/unit/test_response_cache.py, test_response_cache.py here).

Subgraph calls are counted by the stand-ins themselves; hits and stores of whole answers
by the router's own metrics (kind `response`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import nats
import pytest
from prometheus_client.parser import text_string_to_metric_families

from coursegraph.events import Event, encode, subject
from tests.router.conftest import AppHost, RouterFactory, make_token, router_settings
from tests.router.graphs import basic
from tests.router.graphs.loader import load_graph
from tests.router.subgraph_kit import SubgraphApp, build_subgraph_schema, subgraph_app

PUBLIC = "max-age=60, public"
# What each stand-in's answers hold, as the real subgraphs list it in `Cache-Tag`.
TAGS = {
    "products": "Product",
    "reviews": "Review,Product,User",
    "accounts": "User",
    "inventory": "Product",
    "billing": "User,Invoice",
}
CATALOG = "{ topProducts { upc name reviews { body author { username name } } } }"
USER = "query($id: ID!) { publicUser(id: $id) { name } }"


@dataclass
class Router:
    url: str
    subgraphs: dict[str, SubgraphApp]
    client: httpx.Client

    def post(
        self, query: str, variables: Any = None, token: str | None = None, **headers: str
    ) -> httpx.Response:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        if token:
            headers["authorization"] = f"Bearer {token}"
        return self.client.post(f"{self.url}/graphql", json=body, headers=headers)

    def calls(self) -> int:
        return sum(len(app.requests) for app in self.subgraphs.values())

    def whole(self, outcome: str) -> float:
        """Whole-response lookups (hit, miss) or entries stored, from /metrics."""
        text = self.client.get(f"{self.url}/metrics").text
        for family in text_string_to_metric_families(text):
            if family.name == "coursegraph_router_response_cache":
                for sample in family.samples:
                    labels = sample.labels
                    if labels["kind"] == "response" and labels["outcome"] == outcome:
                        return sample.value
        return 0.0


RouterOf = Callable[..., Router]


@pytest.fixture
def cached_router(
    serve_router: RouterFactory, app_host: AppHost, nats_url: str
) -> Iterator[RouterOf]:
    """`cached_router(graph, cache_control={subgraph: header})`: fresh stand-ins of the
    graph's subgraphs (PUBLIC unless told), and a router with the response cache, metrics,
    token verification and NATS, already listening to events."""
    mounts = []
    client = httpx.Client(timeout=10)

    def start(
        graph: str,
        cache_control: dict[str, str | None] | None = None,
        resolvers: dict[str, Any] | None = None,
        **config: Any,
    ) -> Router:
        loaded = load_graph(graph)
        apps = {
            name: SubgraphApp(
                build_subgraph_schema(
                    sdl, (resolvers or {}).get(name, loaded.resolvers.get(name, {}))
                ),
                cache_control=(cache_control or {}).get(name, PUBLIC),
                cache_tag=TAGS.get(name),
            )
            for name, sdl in loaded.subgraphs.items()
        }
        base, mount = app_host.mount(subgraph_app({f"/{n}": a for n, a in apps.items()}))
        mounts.append(mount)
        url = serve_router(
            graph,
            authenticated=True,
            settings=router_settings(nats_url=nats_url),
            subgraphs={name: {"url": f"{base}/{name}/graphql"} for name in apps},
            response_cache={"enabled": True},
            telemetry={"metrics": True},
            **config,
        )
        router = Router(url, apps, client)
        # Until the cache's subscription is up nothing is looked up (or counted).
        deadline = time.monotonic() + 10
        while router.whole("miss") == 0:
            assert time.monotonic() < deadline, "the response cache never started listening"
            router.post("{ __typename }")
            time.sleep(0.05)
        return router

    yield start
    client.close()
    for mount in mounts:
        app_host.unmount(mount)


def publish(nats_url: str, *entities: str) -> None:
    async def send() -> None:
        connection = await nats.connect(nats_url)
        event = Event(
            id=f"e-{time.monotonic_ns()}", topic="x.changed", payload={}, entities=entities
        )
        await connection.publish(subject(event.topic), encode(event))
        await connection.flush()
        await connection.close()

    asyncio.run(send())


def test_a_repeated_anonymous_page_is_answered_without_subgraphs_and_the_same_bytes(
    cached_router: RouterOf,
) -> None:
    router = cached_router("basic")
    first = router.post(CATALOG)
    assert first.json()["data"]["topProducts"][0]["reviews"][0]["author"]["name"]
    calls = router.calls()
    assert calls >= 3  # products, reviews, accounts
    second = router.post(CATALOG)
    assert second.status_code == 200
    assert second.content == first.content
    assert second.headers["content-type"] == "application/json"
    assert router.calls() == calls
    assert router.whole("hit") == 1
    assert router.whole("store") == 1


def test_an_event_naming_an_entity_of_the_page_drops_it(
    cached_router: RouterOf, nats_url: str
) -> None:
    router = cached_router("basic")
    router.post(CATALOG)
    router.post(CATALOG)
    assert router.whole("hit") == 1
    products = router.subgraphs["products"]
    sent = len(products.requests)
    basic.PRODUCTS["1"]["name"] = "Standing desk"
    try:
        publish(nats_url, "Product:1")
        deadline = time.monotonic() + 5
        while True:
            answer = router.post(CATALOG).json()
            if len(products.requests) > sent:
                break
            assert time.monotonic() < deadline, "the event never dropped the page"
            time.sleep(0.05)
        assert answer["data"]["topProducts"][0]["name"] == "Standing desk"
    finally:
        basic.PRODUCTS["1"]["name"] = "Table"
    # Kept again, fresh: the next one is a hit with the new name.
    again = router.post(CATALOG).json()
    assert again["data"]["topProducts"][0]["name"] == "Standing desk"


def test_signed_in_and_anonymous_pages_are_kept_apart(cached_router: RouterOf) -> None:
    router = cached_router("secure")
    anonymous = router.post(USER, {"id": "u1"})
    signed_in = router.post(USER, {"id": "u1"}, token=make_token())
    assert anonymous.json() == signed_in.json()
    assert router.whole("hit") == 0
    assert router.whole("store") == 2
    router.post(USER, {"id": "u1"}, token=make_token(sub="u2", jti="t-2"))
    router.post(USER, {"id": "u1"})
    assert router.whole("hit") == 2  # PUBLIC: one page for signed-in viewers, one for others


def test_a_page_with_a_private_part_is_never_kept(cached_router: RouterOf) -> None:
    router = cached_router("secure", {"billing": "max-age=60, private"})
    query = '{ publicUser(id: "u1") { name balance } }'
    token = make_token()
    for _ in range(2):
        answer = router.post(query, token=token).json()
        assert answer == {"data": {"publicUser": {"name": "Ada Lovelace", "balance": 120}}}
    # The fetch layer keeps both parts (billing's for this token only), the page is not.
    assert len(router.subgraphs["billing"].requests) == 1
    assert router.whole("store") == 0
    assert router.whole("hit") == 0


def test_a_page_from_an_uncached_subgraph_is_never_kept(cached_router: RouterOf) -> None:
    router = cached_router("secure", {"billing": None})
    query = '{ publicUser(id: "u1") { name balance } }'
    for _ in range(2):
        router.post(query, token=make_token())
    assert len(router.subgraphs["billing"].requests) == 2
    assert router.whole("store") == 0


def test_answers_with_errors_are_never_kept(cached_router: RouterOf) -> None:
    # A subgraph error (its answer is `no-store`, as the real subgraphs send it).
    failing = {**basic.RESOLVERS["reviews"], "Product": {"__resolve_reference": _fail}}
    router = cached_router("basic", resolvers={"reviews": failing})
    for _ in range(2):
        assert router.post(CATALOG).json()["errors"][0]["message"] == "no reviews today"
    assert len(router.subgraphs["reviews"].requests) == 2
    assert router.whole("store") == 0
    # Every fetch PUBLIC and kept, but the answer is over the router's object cap.
    router = cached_router("basic", limits={"max_response_objects": 5})
    for _ in range(2):
        answer = router.post(CATALOG).json()
        assert answer["errors"][0]["extensions"]["code"] == "COST_ACTUAL_TOO_EXPENSIVE"
    assert router.whole("store") == 0
    assert router.whole("hit") == 0


def _fail(rep: Any) -> Any:
    raise ValueError("no reviews today")


def test_a_restricted_field_never_leaks_through_a_kept_page(cached_router: RouterOf) -> None:
    router = cached_router("secure")
    query = '{ publicUser(id: "u1") { name email } }'
    allowed = make_token(scope="users:email")
    for _ in range(2):
        seen = router.post(query, token=allowed).json()
        assert seen == {
            "data": {"publicUser": {"name": "Ada Lovelace", "email": "ada@example.test"}}
        }
    assert router.whole("hit") == 1
    for token in (make_token(scope="courses:read", jti="t-3"), None):
        refused = router.post(query, token=token).json()
        assert refused["data"]["publicUser"] == {"name": "Ada Lovelace", "email": None}
        assert refused["errors"][0]["path"] == ["publicUser", "email"]
    assert router.whole("hit") == 1


def test_variables_are_part_of_the_key(cached_router: RouterOf) -> None:
    router = cached_router("secure")
    ada = router.post(USER, {"id": "u1"})
    alan = router.post(USER, {"id": "u2"})
    assert ada.json()["data"]["publicUser"]["name"] == "Ada Lovelace"
    assert alan.json()["data"]["publicUser"]["name"] == "Alan Turing"
    assert router.post(USER, {"id": "u1"}).content == ada.content
    assert router.post(USER, {"id": "u2"}).content == alan.content
    assert router.whole("hit") == 2


def test_mutations_deferred_parts_and_plan_requests_are_never_looked_up(
    cached_router: RouterOf,
) -> None:
    router = cached_router("secure")
    looked = router.whole("miss") + router.whole("hit")
    for _ in range(2):
        renamed = router.post('mutation { renameMe(name: "Ada") { name } }', token=make_token())
        assert renamed.json() == {"data": {"renameMe": {"name": "Ada"}}}
        deferred = router.post(
            '{ publicUser(id: "u1") { name ... @defer { email } } }',
            token=make_token(scope="users:email"),
            accept="multipart/mixed;deferSpec=20220824, application/json",
        )
        assert deferred.headers["content-type"].startswith("multipart/mixed")
        planned = router.post(USER, {"id": "u1"}, **{"x-coursegraph-plan": "1"})
        assert "queryPlan" in planned.json()["extensions"]
    assert router.whole("miss") + router.whole("hit") == looked
    # The same query without the plan header is kept as usual, without a plan.
    plain = router.post(USER, {"id": "u1"})
    assert router.post(USER, {"id": "u1"}).content == plain.content
    assert "extensions" not in plain.json()
    assert router.whole("hit") == 1
