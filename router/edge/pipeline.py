"""The edge pipeline: which concerns run, in which order, and why — fixed here only.

Request order (first to last; the body size limit comes before all of them, in
server.py, so an oversized body is refused before it is read whole or parsed):

1. telemetry — first, so every request is timed and counted and the router span covers
   every later stage, refusals included;
2. CORS — an ASGI layer around the app: preflights are answered before anything else,
   and refusals of later stages still carry CORS headers, so a browser page can read them;
3. CSRF prevention — refuses forged browser requests before any work is done for them
   (no token check, no Redis round trip);
4. authentication — verifies the bearer token; bad tokens are refused before any
   operation work, and the claims are what rate limiting and authorization read;
5. persisted queries — turns a hash into query text, which everything after needs;
   then the operation is prepared (operation.py), once per distinct operation and cached:
   parse (token limit) → validate → introspection → safelist → depth/aliases/root
   fields/cost, in that order (`operation_checks`): the cheap yes/no checks first;
6. rate limiting — after preparing, because cost classes and the stricter `login`/
   `register` buckets depend on the operation, and after authentication, because the
   client is the verified user; a refused request never reaches planning or subgraphs;
   then planning, where authorization removes the fields the claims do not allow
   (authorization.py, cached per plan and claims), and execution, where each subgraph
   fetch goes through traffic shaping (traffic.py) observed by telemetry.

Disabled concerns are not in the list, so they cost nothing per request (the persisted
query stage stays, to answer PERSISTED_QUERY_NOT_SUPPORTED; without extensions it returns
at once).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import GraphQLSchema
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from coursegraph.settings import Environment, Settings, get_settings
from router.config import RouterConfig
from router.edge.apq import (
    MemoryQueryStore,
    PersistedQueries,
    PersistedQueryStage,
    QueryStore,
    RedisQueryStore,
    Safelist,
)
from router.edge.cors import Cors
from router.edge.csrf import CsrfPrevention
from router.edge.limits import OperationLimits
from router.edge.rate_limit import BucketStore, MemoryBuckets, RateLimit, RedisBuckets
from router.edge.stage import Exchange, Stage
from router.edge_auth import Authentication, EdgeAuthenticator
from router.executor import FetchObserver
from router.operation import OperationChecks, PreparedOperation


class Edge:
    def __init__(self, stages: list[Stage], observer: FetchObserver | None = None) -> None:
        self.stages = stages
        self.request_hooks = [s.on_request for s in stages if _overrides(s, "on_request")]
        self.operation_hooks = [s.on_operation for s in stages if _overrides(s, "on_operation")]
        self.response_hooks = [s.on_response for s in stages if _overrides(s, "on_response")]
        self.observer = observer

    def middleware(self) -> list[Middleware]:
        # Starlette puts the first one outermost: the stages' order holds.
        return [layer for stage in self.stages for layer in stage.middleware()]

    def routes(self) -> list[BaseRoute]:
        return [route for stage in self.stages for route in stage.routes()]

    async def admit(self, exchange: Exchange, prepared: PreparedOperation, cost: int) -> None:
        for hook in self.operation_hooks:
            await hook(exchange, prepared, cost)

    async def close(self) -> None:
        for stage in self.stages:
            await stage.close()


def _overrides(stage: Stage, hook: str) -> bool:
    return getattr(type(stage), hook) is not getattr(Stage, hook)


def build_edge(
    config: RouterConfig,
    authenticator: EdgeAuthenticator | None,
    *,
    cache_counts: Callable[[], tuple[int, int]],
    safelist: Callable[[], Safelist | None],
    redis_factory: Callable[[str], Any] | None = None,
    span_exporter: Any = None,
) -> Edge:
    """The edge stages `config` switches on, in the order above."""
    settings = get_settings()
    make_redis = redis_factory or _redis

    def redis_url(explicit: str | None, section: str) -> str:
        url = explicit or settings.redis_url
        if not url:
            raise ValueError(f"{section}.store is redis but neither its redis_url nor REDIS_URL")
        return url

    stages: list[Stage] = []
    observer: FetchObserver | None = None
    telemetry = config.telemetry
    if telemetry.metrics or telemetry.otlp_endpoint or span_exporter is not None:
        # Imported only when switched on: prometheus-client and OpenTelemetry load slowly
        # and a router without telemetry does not need them installed.
        from router.edge.telemetry import Telemetry

        stage = Telemetry(telemetry, cache_counts, span_exporter)
        stages.append(stage)
        observer = stage
    cors = Cors.build(config.cors, settings)
    if cors is not None:
        stages.append(cors)
    if config.csrf.enabled:
        stages.append(CsrfPrevention(config.csrf))
    if authenticator is not None:
        stages.append(Authentication(authenticator))
    persisted = config.persisted_queries
    # Always present: with APQ off it still answers a persistedQuery extension with
    # PERSISTED_QUERY_NOT_SUPPORTED (Apollo's clients then fall back to full queries); a
    # request without extensions returns from it at once.
    store: QueryStore | None = None
    if persisted.apq and persisted.store == "redis":
        store = RedisQueryStore(
            make_redis(redis_url(persisted.redis_url, "persisted_queries")),
            persisted.key_prefix,
            persisted.redis_ttl_seconds,
        )
    elif persisted.apq:
        store = MemoryQueryStore(persisted.memory_size)
    stages.append(PersistedQueryStage(PersistedQueries(store, safelist)))
    limit = config.rate_limit
    if limit.enabled:
        buckets: BucketStore = (
            RedisBuckets(make_redis(redis_url(limit.redis_url, "rate_limit")))
            if limit.store == "redis"
            else MemoryBuckets()
        )
        stages.append(RateLimit(limit, buckets))
    return Edge(stages, observer)


def operation_checks(config: RouterConfig, supergraph_schema: GraphQLSchema) -> OperationChecks:
    """What `Operations` checks once per prepared operation, in this order: introspection
    and the safelist are yes/no lookups, limits walk the operation."""
    limits = config.limits
    settings = get_settings()
    introspection = limits.introspection
    if introspection is None:
        introspection = settings.environment is Environment.DEVELOPMENT
    safelist = (
        Safelist.from_files(config.persisted_queries.safelist)
        if config.persisted_queries.safelist
        else None
    )
    return OperationChecks(
        introspection=introspection and exposes_schema(settings),
        safelist=safelist,
        limits=OperationLimits(limits, supergraph_schema),
    )


def plan_on_request(config: RouterConfig) -> bool:
    """Whether `X-Coursegraph-Plan: 1` gets the query plan: debug.query_plan_header, by
    default only in development, and like the schema never in production unless allowed."""
    settings = get_settings()
    allowed = config.debug.query_plan_header
    if allowed is None:
        allowed = settings.environment is Environment.DEVELOPMENT
    return allowed and exposes_schema(settings)


def exposes_schema(settings: Settings) -> bool:
    """Production shows no schema (introspection, GraphiQL) whatever router.yaml says,
    unless ROUTER_EXPOSE_SCHEMA_IN_PRODUCTION says so: a config copied from development
    must not publish the whole API, internal names and all."""
    return not settings.is_production or settings.router_expose_schema_in_production


def _redis(url: str) -> Any:
    from redis.asyncio import Redis

    return Redis.from_url(url)
