"""The router's response cache on the real stack: five subgraph processes, two router
instances sharing one Redis store, NATS carrying the domain events that invalidate.

Subgraph calls are counted with the router's own metrics (`/metrics`): the cache sits
outside telemetry, so a hit is no subgraph fetch.

Staleness: after a mutation returns, the changed value is polled every 50 ms; it must be
served within `STALENESS_BOUND_SECONDS` (the issue's 1 s) of the router getting the
event. The event's own way (outbox relay woken at commit → NATS) is allowed more on a
loaded machine; on an ordinary one the whole way takes well under a second.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.client import Account, Api
from tests.e2e.scenario import Course, published_course, settle_sandbox, unique_word
from tests.e2e.stack import (
    Service,
    Stack,
    build_stack,
    free_ports,
    fresh_database,
    router_argv,
)
from tests.services import nats_server

STALENESS_BOUND_SECONDS = 1.0
EVENT_WAIT_SECONDS = 10.0
POLL_SECONDS = 0.05
PRICE = {"amount": "49.99", "currency": "USD"}


@pytest.fixture(scope="module")
def stack(
    database_server_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Its own database and NATS (the events of another stack must not reach it), and a
    second router, `router-b`, with the same config: both keep entries in one Redis."""
    workdir: Path = tmp_path_factory.mktemp("cache-stack")
    (workdir / "data").mkdir()
    prefix = f"test:cache:{secrets.token_hex(6)}:"
    with (
        nats_server(tmp_path_factory.mktemp("cache-nats")) as nats_url,
        fresh_database(database_server_url, "coursegraph_cache") as database_url,
    ):
        running = build_stack(
            workdir,
            database_url,
            {"NATS_URL": nats_url, "SERVICE_SECRET_KEY": secrets.token_hex(16)},
        )
        config = {
            "traffic": {"timeout_seconds": 10},
            "telemetry": {"metrics": True},
            "response_cache": {
                "enabled": True,
                "store": "redis",
                "redis_url": redis_url,
                "key_prefix": prefix,
            },
        }
        (workdir / "router.yaml").write_text(yaml.safe_dump(config))
        (port,) = free_ports(1)
        first = running.router
        running.services["router-b"] = Service(
            "router-b",
            router_argv(workdir / "supergraph.graphql", workdir / "router.yaml", port),
            port,
            first.env,
            workdir,
        )
        with running:
            yield running


@pytest.fixture
def api(stack: Stack) -> Api:
    return Api(stack.graphql_url)


@pytest.fixture
def api_b(stack: Stack) -> Api:
    return Api(f"{stack.services['router-b'].url}/graphql")


def metrics(router: Service) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(f"{router.url}/metrics", timeout=5).text
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def fetches(router: Service, subgraph: str) -> float:
    """Requests the router sent to `subgraph` so far."""
    key = (
        "coursegraph_router_subgraph_fetch_duration_seconds_count",
        frozenset({("subgraph", subgraph)}),
    )
    return metrics(router).get(key, 0.0)


def cache_count(router: Service, subgraph: str, kind: str, outcome: str) -> float:
    labels = frozenset({("subgraph", subgraph), ("kind", kind), ("outcome", outcome)})
    return metrics(router).get(("coursegraph_router_response_cache_total", labels), 0.0)


def events(router: Service) -> float:
    """Events naming entities that reached `router`'s cache so far."""
    key: tuple[str, frozenset[tuple[str, str]]] = (
        "coursegraph_router_response_cache_events_total",
        frozenset(),
    )
    return metrics(router).get(key, 0.0)


async def within_bound(
    router: Service,
    events_before: float,
    probe: Callable[[], Awaitable[Any]],
    until: Callable[[Any], bool],
) -> Any:
    """Poll every 50 ms until `until(probe())`, and return that value; fail if it is still stale
    `STALENESS_BOUND_SECONDS` after the router got an event sent since `events_before`
    (the event's own way, relay and NATS, may take up to `EVENT_WAIT_SECONDS` on a loaded
    machine)."""
    started = time.monotonic()
    event_seen: float | None = None
    while True:
        value = await probe()
        now = time.monotonic()
        if until(value):
            return value
        if event_seen is None and events(router) > events_before:
            event_seen = now
        if event_seen is None and now - started > EVENT_WAIT_SECONDS:
            raise AssertionError(f"no event reached {router.name} in {EVENT_WAIT_SECONDS}s")
        if event_seen is not None and now - event_seen > STALENESS_BOUND_SECONDS:
            raise AssertionError(
                f"{router.name} still stale {now - started:.2f}s after the change, "
                f"{now - event_seen:.2f}s after its event; last value: {value!r}"
            )
        await asyncio.sleep(POLL_SECONDS)


async def catalog(api: Api, word: str, token: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = (await api.data("Catalog", {"search": word, "first": 5}, token=token))[
        "courses"
    ]
    return result


async def page(api: Api, course: Course, token: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = (await api.data("CoursePage", {"slug": course.slug}, token=token))[
        "course"
    ]
    return result


async def _course(api: Api, price: dict[str, str] | None = None) -> tuple[Account, Course, str]:
    teacher = await api.sign_up("TEACHER")
    word = unique_word()
    course = await published_course(api, teacher, title=f"Cached {word} course", price=price)
    return teacher, course, word


# ------------------------------------------------------------------ hits
async def test_a_repeated_catalog_and_course_page_make_no_subgraph_call(
    stack: Stack, api: Api
) -> None:
    _, course, word = await _course(api)
    first = await catalog(api, word)
    await page(api, course)
    courses_calls = fetches(stack.router, "courses")
    users_calls = fetches(stack.router, "users")
    hits = cache_count(stack.router, "", "response", "hit")

    assert await catalog(api, word) == first
    await page(api, course)

    assert fetches(stack.router, "courses") == courses_calls
    assert fetches(stack.router, "users") == users_calls
    # Anonymous public pages: answered whole (router/edge/whole.py), before any fetch.
    assert cache_count(stack.router, "", "response", "hit") == hits + 2


async def test_an_entity_fetched_for_one_page_serves_the_next(stack: Stack, api: Api) -> None:
    teacher = await api.sign_up("TEACHER")
    one = await published_course(api, teacher)
    two = await published_course(api, teacher)
    assert (await page(api, one))["teacher"]["name"] == teacher.name
    hits = cache_count(stack.router, "users", "entity", "hit")
    users_calls = fetches(stack.router, "users")

    # Another course, another root fetch; the same teacher: no call to users.
    assert (await page(api, two))["teacher"]["name"] == teacher.name

    assert fetches(stack.router, "users") == users_calls
    assert cache_count(stack.router, "users", "entity", "hit") == hits + 1


async def test_a_second_router_instance_reads_what_the_first_stored(
    stack: Stack, api: Api, api_b: Api
) -> None:
    _, course, _ = await _course(api)
    seen = await page(api, course)
    router_b = stack.services["router-b"]
    calls = fetches(router_b, "courses")

    assert await page(api_b, course) == seen

    assert fetches(router_b, "courses") == calls
    assert cache_count(router_b, "", "response", "hit") >= 1  # the page router A kept


# ------------------------------------------------------------------ never cached
async def test_errors_are_not_cached(stack: Stack, api: Api) -> None:
    query = '{ course(id: "a", slug: "b") { id } }'  # both: BAD_USER_INPUT from courses
    assert (await api.run(query)).code == "BAD_USER_INPUT"
    calls = fetches(stack.router, "courses")

    assert (await api.run(query)).code == "BAD_USER_INPUT"

    assert fetches(stack.router, "courses") == calls + 1


async def test_payments_are_never_cached(stack: Stack, api: Api) -> None:
    _, course, _ = await _course(api, PRICE)
    student = await api.sign_up()
    enrolled = (
        await api.data(
            "Enroll", {"courseId": course.id, "provider": "SANDBOX"}, token=student.token
        )
    )["enroll"]
    payment_id = enrolled["payment"]["id"]
    await api.data("Payment", {"id": payment_id}, token=student.token)
    calls = fetches(stack.router, "payments")

    await api.data("Payment", {"id": payment_id}, token=student.token)
    await api.data("Payment", {"id": payment_id}, token=student.token)

    assert fetches(stack.router, "payments") == calls + 2
    assert not any(
        name == "coursegraph_router_response_cache_total" and ("subgraph", "payments") in labels
        for name, labels in metrics(stack.router)
    )


# ------------------------------------------------------------------ PRIVATE
async def test_private_answers_are_kept_per_viewer(stack: Stack, api: Api) -> None:
    teacher = await api.sign_up("TEACHER")
    word = unique_word()
    draft = (
        await api.data("CreateCourse", {"input": {"title": f"Draft {word}"}}, token=teacher.token)
    )["createCourse"]
    mine = await api.data("TeacherCatalog", {"teacherId": teacher.id}, token=teacher.token)
    assert [e["node"]["id"] for e in mine["courses"]["edges"]] == [draft["id"]]
    hits = cache_count(stack.router, "courses", "root", "hit")
    again = await api.data("TeacherCatalog", {"teacherId": teacher.id}, token=teacher.token)
    assert again == mine
    assert cache_count(stack.router, "courses", "root", "hit") == hits + 1

    # Neither another viewer nor an anonymous one is served the teacher's entry.
    student = await api.sign_up()
    for token in (student.token, None):
        theirs = await api.data("TeacherCatalog", {"teacherId": teacher.id}, token=token)
        assert theirs["courses"]["edges"] == []
    assert (
        await api.run("query($s: String!) { course(slug: $s) { id } }", {"s": draft["slug"]})
    ).ok() == {"course": None}


# ------------------------------------------------------------------ invalidation
async def test_a_title_and_price_change_reach_cached_pages_within_a_second(
    stack: Stack, api: Api, api_b: Api
) -> None:
    teacher, course, word = await _course(api, PRICE)
    for client in (api, api_b):
        await catalog(client, word)
        assert (await catalog(client, word))["edges"][0]["node"]["title"] == course.title
        await page(client, course)
    new_price = {"amount": "19.99", "currency": "USD"}
    title = f"Renamed {word} course"

    routers = (stack.router, stack.services["router-b"])
    before = [events(router) for router in routers]
    await api.data(
        "UpdateCourse",
        {"id": course.id, "input": {"title": title, "price": new_price}},
        token=teacher.token,
    )

    for client, router, seen in zip((api, api_b), routers, before, strict=True):
        card = await within_bound(
            router,
            seen,
            lambda c=client: catalog(c, word),  # type: ignore[misc]
            lambda value: value["edges"][0]["node"]["title"] == title,
        )
        assert card["edges"][0]["node"]["price"] == new_price
        shown = await within_bound(
            router,
            seen,
            lambda c=client: page(c, course),  # type: ignore[misc]
            lambda value: value["title"] == title,
        )
        assert shown["price"] == new_price


async def test_an_enrollment_and_a_refund_reach_the_cached_course_page_within_a_second(
    stack: Stack, api: Api
) -> None:
    _, course, _ = await _course(api, PRICE)
    assert (await page(api, course))["enrollmentCount"] == 0
    assert (await page(api, course))["enrollmentCount"] == 0  # now from the cache
    student = await api.sign_up()
    enrolled = (
        await api.data(
            "Enroll", {"courseId": course.id, "provider": "SANDBOX"}, token=student.token
        )
    )["enroll"]
    payment = enrolled["payment"]
    proof = await settle_sandbox(payment["checkout"])
    before = events(stack.router)
    await api.data("VerifyPayment", {"paymentId": payment["id"], **proof}, token=student.token)

    await within_bound(
        stack.router, before, lambda: page(api, course), lambda v: v["enrollmentCount"] == 1
    )

    before = events(stack.router)
    await api.data(
        "RequestRefund", {"paymentId": payment["id"], "reason": "cache test"}, token=student.token
    )
    # Payments' outbox handler drops the seat in courses before it publishes
    # payment.refunded (which names the course); courses then announces enrollment.dropped.
    await within_bound(
        stack.router, before, lambda: page(api, course), lambda v: v["enrollmentCount"] == 0
    )


async def test_a_profile_change_reaches_the_teacher_name_within_a_second(
    stack: Stack, api: Api
) -> None:
    teacher, course, _ = await _course(api)
    assert (await page(api, course))["teacher"]["name"] == teacher.name
    await page(api, course)
    before = events(stack.router)

    await api.data("UpdateProfile", {"input": {"name": "Renamed Teacher"}}, token=teacher.token)

    await within_bound(
        stack.router,
        before,
        lambda: page(api, course),
        lambda value: value["teacher"]["name"] == "Renamed Teacher",
    )
