"""Telemetry: Prometheus metrics on /metrics; OpenTelemetry spans per request and per
subgraph fetch, with the trace context propagated to subgraphs."""

from __future__ import annotations

import time

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.router.conftest import RouterFactory, Stack


def _metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        matches = all(f'{key}="{val}"' in head for key, val in labels.items())
        if matches and head.split("{")[0] == name:
            return float(value)
    return 0.0


def test_metrics_endpoint(serve_router: RouterFactory) -> None:
    url = serve_router(
        telemetry={"metrics": True},
        subgraphs={"inventory": {"url": "http://127.0.0.1:9/graphql"}},
    )
    query = {"query": "query Top { topProducts(first: 1) { name inStock } }"}
    for _ in range(2):
        httpx.post(f"{url}/graphql", json=query)
    httpx.post(f"{url}/graphql", json={"query": "{ nope }"})
    text = httpx.get(f"{url}/metrics").text
    assert _metric(text, "coursegraph_router_requests_total", operation="Top", status="200") == 2
    assert _metric(text, "coursegraph_router_requests_total", status="400") == 1
    assert _metric(text, "coursegraph_router_errors_total", code="SERVICE_UNAVAILABLE") == 2
    assert _metric(text, "coursegraph_router_errors_total", code="GRAPHQL_VALIDATION_FAILED") == 1
    assert _metric(text, "coursegraph_router_request_duration_seconds_count", operation="Top") == 2
    assert (
        _metric(
            text, "coursegraph_router_subgraph_fetch_duration_seconds_count", subgraph="products"
        )
        == 2
    )
    assert _metric(text, "coursegraph_router_subgraph_fetch_errors_total", subgraph="inventory")
    assert _metric(text, "coursegraph_router_plan_cache_hits_total") >= 1
    assert _metric(text, "coursegraph_router_plan_cache_misses_total") >= 2


def test_metrics_are_off_by_default(serve_router: RouterFactory) -> None:
    url = serve_router()
    assert httpx.get(f"{url}/metrics").status_code == 404


def test_traces_with_a_span_per_fetch_and_propagation(
    serve_router: RouterFactory, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The batch processor's export delay (OpenTelemetry's standard variable), so the test
    # need not wait the default 5 s.
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "20")
    exporter = InMemorySpanExporter()
    url = serve_router(span_exporter=exporter)
    stack.reset()
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent = f"00-{trace_id}-00f067aa0ba902b7-01"
    response = httpx.post(
        f"{url}/graphql",
        json={"query": "query Top { topProducts(first: 1) { name inStock } }"},
        headers={"traceparent": parent},
    )
    assert "errors" not in response.json()
    deadline = time.monotonic() + 5
    spans = exporter.get_finished_spans()
    while len(spans) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
        spans = exporter.get_finished_spans()
    by_name = {span.name: span for span in spans}
    router_span = by_name["router"]
    assert format(router_span.context.trace_id, "032x") == trace_id
    assert router_span.attributes is not None
    assert router_span.attributes["graphql.operation.name"] == "Top"
    for name in ("fetch products", "fetch inventory"):
        fetch = by_name[name]
        assert fetch.parent is not None
        assert fetch.parent.span_id == router_span.context.span_id
    # Subgraphs receive the fetch span as their parent.
    [headers] = stack.subgraphs["basic"]["products"].headers
    fetch_span = by_name["fetch products"].context.span_id
    assert headers["traceparent"] == f"00-{trace_id}-{format(fetch_span, '016x')}-01"
