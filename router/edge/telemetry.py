"""Telemetry: Prometheus metrics on `/metrics` and OpenTelemetry traces.

Metrics (a registry per app, so several routers in one process do not collide):
`coursegraph_router_requests_total{operation,status}`, `..._errors_total{code}`,
`..._request_duration_seconds{operation}`, `..._operation_cost_{estimated,actual}{operation}`
(demand control: the static estimate and the objects the subgraphs returned, per executed
operation), `..._subgraph_fetch_duration_seconds{subgraph}`,
`..._subgraph_fetch_errors_total{subgraph}`, `..._plan_cache_{hits,misses}_total` (read
from the cache's own counters at scrape time, so cache lookups pay nothing extra),
`..._response_cache_total{subgraph,kind,outcome}` (hit, miss, store),
`..._response_cache_hit_ratio{subgraph,kind}`, `..._response_cache_invalidations_total`
and `..._response_cache_events_total` (read from the response cache the same way).
Operation names come from clients, so at most `_MAX_OPERATION_NAMES` distinct ones get
their own label; the rest are counted as `other`.

Traces, only when an exporter is configured: a `router` span per request (continuing the
caller's W3C `traceparent`), a child span per subgraph fetch, and the fetch span's
`traceparent` sent to the subgraph so its spans join the same trace.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from router.config import TelemetryConfig
from router.edge.cache import ResponseCache
from router.stage import Exchange, Stage
from router.subgraph_errors import SubgraphUnavailable
from router.traffic import SubgraphTraffic
from router.types import JSONObject

_MAX_OPERATION_NAMES = 500
# Operation costs span 1 (one object) to the limits (50,000 by default) and beyond.
_COST_BUCKETS = (1, 5, 10, 50, 100, 500, 1_000, 5_000, 10_000, 50_000, 100_000, float("inf"))
_PROPAGATOR = TraceContextTextMapPropagator()


class _PlanCacheCollector(Collector):
    def __init__(self, cache_counts: Callable[[], tuple[int, int]]) -> None:
        self._counts = cache_counts

    def collect(self) -> Iterator[Metric]:
        hits, misses = self._counts()
        yield CounterMetricFamily(
            "coursegraph_router_plan_cache_hits", "Prepared-operation cache hits.", value=hits
        )
        yield CounterMetricFamily(
            "coursegraph_router_plan_cache_misses",
            "Prepared-operation cache misses (parsed, validated and planned).",
            value=misses,
        )


class _ResponseCacheCollector(Collector):
    def __init__(self, cache: Callable[[], ResponseCache | None]) -> None:
        self._cache = cache

    def collect(self) -> Iterator[Metric]:
        cache = self._cache()
        if cache is None:
            return
        lookups = CounterMetricFamily(
            "coursegraph_router_response_cache",
            "Response cache lookups (hit, miss) and entries stored, by subgraph and kind "
            "(root fetch or entity).",
            labels=["subgraph", "kind", "outcome"],
        )
        ratio = GaugeMetricFamily(
            "coursegraph_router_response_cache_hit_ratio",
            "Hits / (hits + misses) since start, by subgraph and kind.",
            labels=["subgraph", "kind"],
        )
        counts = dict(cache.counts)
        pairs = set()
        for (subgraph, kind, outcome), value in sorted(counts.items()):
            lookups.add_metric([subgraph, kind, outcome], value)
            pairs.add((subgraph, kind))
        for subgraph, kind in sorted(pairs):
            hits = counts.get((subgraph, kind, "hit"), 0)
            looked = hits + counts.get((subgraph, kind, "miss"), 0)
            if looked:
                ratio.add_metric([subgraph, kind], hits / looked)
        yield lookups
        yield ratio
        yield CounterMetricFamily(
            "coursegraph_router_response_cache_invalidations",
            "Response cache entries dropped because a domain event named what they hold.",
            value=cache.invalidated,
        )
        yield CounterMetricFamily(
            "coursegraph_router_response_cache_events",
            "Domain events naming entities that reached the response cache.",
            value=cache.events,
        )


class Telemetry(Stage):
    def __init__(
        self,
        config: TelemetryConfig,
        cache_counts: Callable[[], tuple[int, int]],
        span_exporter: SpanExporter | None = None,
        response_cache: Callable[[], ResponseCache | None] = lambda: None,
    ) -> None:
        self.config = config
        self.metrics = config.metrics
        self.registry = CollectorRegistry(auto_describe=True)
        self._names: set[str] = set()
        if self.metrics:
            self.registry.register(_PlanCacheCollector(cache_counts))
            self.registry.register(_ResponseCacheCollector(response_cache))
        self.requests = Counter(
            "coursegraph_router_requests",
            "GraphQL requests answered, by operation name and HTTP status.",
            ["operation", "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "coursegraph_router_errors",
            "GraphQL errors in responses, by extensions.code.",
            ["code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "coursegraph_router_request_duration_seconds",
            "Time to answer a GraphQL request, by operation name.",
            ["operation"],
            registry=self.registry,
        )
        self.cost_estimated = Histogram(
            "coursegraph_router_operation_cost_estimated",
            "Static cost estimate of executed operations (@cost/@listSize), by operation name.",
            ["operation"],
            buckets=_COST_BUCKETS,
            registry=self.registry,
        )
        self.cost_actual = Histogram(
            "coursegraph_router_operation_cost_actual",
            "Objects the subgraphs returned for executed operations, by operation name.",
            ["operation"],
            buckets=_COST_BUCKETS,
            registry=self.registry,
        )
        self.fetch_latency = Histogram(
            "coursegraph_router_subgraph_fetch_duration_seconds",
            "Time of one subgraph fetch (retries included), by subgraph.",
            ["subgraph"],
            registry=self.registry,
        )
        self.fetch_errors = Counter(
            "coursegraph_router_subgraph_fetch_errors",
            "Subgraph fetches that got no GraphQL answer, by subgraph.",
            ["subgraph"],
            registry=self.registry,
        )
        self.provider: TracerProvider | None = None
        self.tracer: trace.Tracer | None = None
        if span_exporter is None and config.otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            span_exporter = OTLPSpanExporter(endpoint=config.otlp_endpoint)
        if span_exporter is not None:
            # Our own provider, not the global one: the router does not change what other
            # code in the process traces with.
            self.provider = TracerProvider(
                resource=Resource.create({"service.name": config.service_name})
            )
            self.provider.add_span_processor(BatchSpanProcessor(span_exporter))
            self.tracer = self.provider.get_tracer("coursegraph.router")

    def routes(self) -> list[BaseRoute]:
        if not self.metrics:
            return []

        async def metrics(request: Request) -> Response:
            return Response(generate_latest(self.registry), media_type="text/plain; version=0.0.4")

        return [Route(self.config.metrics_path, metrics, methods=["GET"])]

    def operation_label(self, name: Any) -> str:
        if not isinstance(name, str) or not name:
            return "anonymous"
        if name in self._names:
            return name
        if len(self._names) >= _MAX_OPERATION_NAMES or len(name) > 100:
            return "other"
        self._names.add(name)
        return name

    async def on_request(self, exchange: Exchange) -> None:
        tracer = self.tracer
        if tracer is None:
            return
        parent = _PROPAGATOR.extract(exchange.request.headers)
        span = tracer.start_span("router", context=parent, kind=SpanKind.SERVER)
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        exchange.span = (span, token)

    def on_response(self, exchange: Exchange, status: int, errors: list[Any] | None) -> None:
        if self.metrics:
            operation = self.operation_label(exchange.operation_name)
            self.requests.labels(operation, str(status)).inc()
            self.latency.labels(operation).observe(time.perf_counter() - exchange.started)
            if exchange.cost is not None:
                estimated, actual = exchange.cost
                self.cost_estimated.labels(operation).observe(estimated)
                self.cost_actual.labels(operation).observe(actual)
            for error in errors or ():
                code = "UNKNOWN"
                if isinstance(error, dict):
                    code = str((error.get("extensions") or {}).get("code", "UNKNOWN"))
                self.errors.labels(code).inc()
        if exchange.span is not None:
            span, token = exchange.span
            exchange.span = None
            name = exchange.operation_name
            if isinstance(name, str):
                span.set_attribute("graphql.operation.name", name)
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
            span.end()
            otel_context.detach(token)

    async def fetch(
        self,
        traffic: SubgraphTraffic,
        payload: JSONObject,
        headers: Mapping[str, str],
        idempotent: bool,
    ) -> JSONObject:
        """A subgraph fetch, timed and (with tracing) in its own span."""
        name = traffic.endpoint.name
        started = time.perf_counter()
        try:
            if self.tracer is None:
                return await traffic.request(payload, headers, idempotent=idempotent)
            with self.tracer.start_as_current_span(
                f"fetch {name}", kind=SpanKind.CLIENT, attributes={"subgraph.name": name}
            ):
                carrier = dict(headers)
                _PROPAGATOR.inject(carrier)
                return await traffic.request(payload, carrier, idempotent=idempotent)
        except SubgraphUnavailable:
            if self.metrics:
                self.fetch_errors.labels(name).inc()
            raise
        finally:
            if self.metrics:
                self.fetch_latency.labels(name).observe(time.perf_counter() - started)

    async def close(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()
