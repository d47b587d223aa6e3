"""Traffic shaping: retries for queries only, the per-subgraph circuit breaker, and
de-duplication of identical in-flight subgraph queries."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from router.bootstrap import build_router
from router.config import RouterConfig
from router.service import Router
from router.stage import Edge
from router.supergraph import Supergraph
from router.traffic import CircuitBreaker
from tests.router.conftest import SETTINGS, AppHost, Stack, make_token, serve
from tests.router.graphs.loader import load_graph
from tests.router.subgraph_kit import SubgraphApp, build_subgraph_schema

NO_PREFLIGHT: dict[str, str] = {}


class Flaky:
    """One graph's subgraph that fails (HTTP 503, not GraphQL) while `failures` > 0."""

    def __init__(self, graph: str, name: str, delay: float = 0.0) -> None:
        loaded = load_graph(graph)
        self.app = SubgraphApp(
            build_subgraph_schema(loaded.subgraphs[name], loaded.resolvers.get(name, {})),
            delay=delay,
        )
        self.failures = 0
        self.calls = 0
        # Calls being answered now, and the most at once.
        self.active = 0
        self.peak = 0
        self.router: Router | None = None

    async def endpoint(self, request: Request) -> Response:
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            await request.body()
            return Response("upstream sad", status_code=503)
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            return await self.app.endpoint(request)
        finally:
            self.active -= 1


@pytest.fixture
def flaky_router(stack: Stack, app_host: AppHost) -> Iterator[Any]:
    started: list[tuple[Mount, Router, Edge]] = []
    mounts: list[Mount] = []

    def start(graph: str, name: str, delay: float = 0.0, **config: Any) -> tuple[str, Flaky]:
        flaky = Flaky(graph, name, delay)
        flaky_url, mount = app_host.mount(
            Starlette(routes=[Route("/graphql", flaky.endpoint, methods=["POST"])])
        )
        mounts.append(mount)
        loaded = load_graph(graph)
        subgraphs = {
            sub: {"url": f"{stack.subgraph_url}/{graph}/{sub}/graphql"} for sub in loaded.subgraphs
        }
        subgraphs[name] = {"url": f"{flaky_url}/graphql"}
        router = build_router(
            Supergraph(loaded.supergraph),
            RouterConfig.model_validate(
                {"subgraphs": subgraphs, "limits": {"cost_extension": False}, **config}
            ),
            SETTINGS,
        )
        flaky.router = router
        return serve(app_host, started, router, authenticated=True), flaky

    yield start
    for mount, router, edge in started:
        app_host.unmount(mount, router.close, edge.close)
    for mount in mounts:
        app_host.unmount(mount)


def _post(url: str, query: str, **headers: str) -> dict[str, Any]:
    response = httpx.post(f"{url}/graphql", json={"query": query}, headers=headers, timeout=10)
    result: dict[str, Any] = response.json()
    return result


def test_queries_are_retried(flaky_router: Any) -> None:
    url, flaky = flaky_router(
        "basic", "accounts", traffic={"retry": {"attempts": 2, "backoff_seconds": 0.01}}
    )
    flaky.failures = 2
    assert _post(url, "{ me { id } }") == {"data": {"me": {"id": "u1"}}}
    assert flaky.calls == 3
    flaky.failures, flaky.calls = 3, 0
    result = _post(url, "{ me { id } }")
    assert result["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert flaky.calls == 3


def test_mutations_are_never_retried(flaky_router: Any) -> None:
    url, flaky = flaky_router(
        "advanced", "enroll", traffic={"retry": {"attempts": 3, "backoff_seconds": 0.01}}
    )
    flaky.failures = 1
    result = _post(url, 'mutation { enroll(code: "PY101") }')
    assert result["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert flaky.calls == 1


def test_circuit_breaker_opens_and_probes(flaky_router: Any) -> None:
    url, flaky = flaky_router(
        "basic",
        "accounts",
        traffic={
            "retry": {"attempts": 0},
            "circuit_breaker": {"failure_threshold": 2, "cool_down_seconds": 0.3},
        },
    )
    flaky.failures = 100
    for _ in range(2):
        assert _post(url, "{ me { id } }")["errors"][0]["extensions"]["code"] == (
            "SERVICE_UNAVAILABLE"
        )
    assert flaky.calls == 2
    # Open: answered at once, the subgraph is not called.
    result = _post(url, "{ me { id } }")
    assert result["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert "circuit breaker" in result["errors"][0]["message"]
    assert flaky.calls == 2
    # After the cool-down one probe goes through; it fails, so the circuit opens again.
    time.sleep(0.35)
    _post(url, "{ me { id } }")
    assert flaky.calls == 3
    _post(url, "{ me { id } }")
    assert flaky.calls == 3
    # The subgraph recovers: the next probe succeeds and closes the circuit.
    flaky.failures = 0
    time.sleep(0.35)
    assert _post(url, "{ me { id } }") == {"data": {"me": {"id": "u1"}}}
    assert _post(url, "{ me { id } }") == {"data": {"me": {"id": "u1"}}}
    assert flaky.calls == 5


async def _concurrent(url: str, count: int, headers: list[dict[str, str]]) -> list[Any]:
    async with httpx.AsyncClient(timeout=10) as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    f"{url}/graphql",
                    json={"query": "{ me { id } }"},
                    headers=headers[i % len(headers)],
                )
                for i in range(count)
            )
        )
    return [r.json() for r in responses]


def test_identical_in_flight_queries_are_deduplicated(flaky_router: Any) -> None:
    url, flaky = flaky_router("basic", "accounts", delay=0.3, traffic={"deduplicate_queries": True})
    results = asyncio.run(_concurrent(url, 5, [NO_PREFLIGHT]))
    assert results == [{"data": {"me": {"id": "u1"}}}] * 5
    assert flaky.calls == 1
    # Different forwarded credentials are never shared.
    flaky.calls = 0
    tokens = [{"authorization": f"Bearer {make_token(sub=s)}"} for s in ("a", "b")]
    asyncio.run(_concurrent(url, 4, tokens))
    assert flaky.calls == 2


def test_without_deduplication_each_query_is_sent(flaky_router: Any) -> None:
    url, flaky = flaky_router("basic", "accounts", delay=0.1)
    asyncio.run(_concurrent(url, 3, [NO_PREFLIGHT]))
    assert flaky.calls == 3


def test_a_cancelled_probe_does_not_keep_the_circuit_open() -> None:
    breaker = CircuitBreaker(threshold=1, cool_down=0.0)
    breaker.failed()
    assert breaker.admit()  # the probe
    assert not breaker.admit()  # one probe at a time
    breaker.abandoned()
    assert breaker.admit()
    breaker.succeeded()
    assert breaker.admit()
    assert breaker.admit()
