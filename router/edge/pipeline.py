"""The edge pipeline: which concerns run, in which order, and why — fixed here only.

Two lists, both built here: the HTTP stages (`build_edge`, router/stage.py says what a
stage is) and the operation checks (`operation_checks`, router/checks.py says what a
check is). The core runs them in the order given and knows none of them by name.

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
   parse (token limit) → validate → the operation checks, in `operation_checks`' order:
   introspection → safelist (cheap yes/no lookups first) → depth/aliases/root fields/cost
   (walks the operation) → authorization (collects the requirements its fields carry);
6. rate limiting — after preparing, because cost classes and the stricter `login`/
   `register` buckets depend on the operation, and after authentication, because the
   client is the verified user; a refused request never reaches planning or subgraphs;
   then planning, where the authorization check removes the fields the claims do not
   allow (authorization.py, plans cached per verdict); then, with the response cache, a
   public query's whole answer kept for an identical request (whole.py: after every stage
   above admitted it, and only when no field was taken out); else execution, where each
   subgraph fetch goes through the response cache (cache.py; a hit sends nothing), then traffic
   shaping (traffic.py) observed by telemetry — the cache outside telemetry, so subgraph
   fetch metrics count real fetches only.

Disabled concerns are not in the list, so they cost nothing per request (the persisted
query stage stays, to answer PERSISTED_QUERY_NOT_SUPPORTED; without extensions it returns
at once).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import GraphQLSchema

from coursegraph.settings import Settings
from router.checks import OperationCheck
from router.config import RouterConfig
from router.edge.apq import (
    MemoryQueryStore,
    PersistedQueries,
    PersistedQueryStage,
    QueryStore,
    RedisQueryStore,
    Safelist,
    SafelistCheck,
)
from router.edge.authentication import Authentication, EdgeAuthenticator
from router.edge.authorization import Authorization, AuthorizationCheck
from router.edge.cache import ResponseCache
from router.edge.cache_store import CacheStore, MemoryStore, RedisStore
from router.edge.cors import Cors
from router.edge.csrf import CsrfPrevention
from router.edge.introspection import IntrospectionDisabled
from router.edge.limits import LimitsCheck, OperationLimits
from router.edge.rate_limit import BucketStore, MemoryBuckets, RateLimit, RedisBuckets
from router.edge.whole import WholeResponses
from router.executor import FetchObserver
from router.exposure import answers_introspection
from router.service import Router
from router.stage import Edge, Stage
from router.supergraph import Supergraph


def build_edge(
    router: Router,
    authenticator: EdgeAuthenticator | None,
    *,
    redis_factory: Callable[[str], Any] | None = None,
    span_exporter: Any = None,
) -> Edge:
    """The edge stages the router's start-up config switches on, in the order above, with
    the router's settings."""
    config, settings = router.config, router.settings
    make_redis = redis_factory or _redis

    def redis_url(explicit: str | None, section: str) -> str:
        url = explicit or settings.redis_url
        if not url:
            raise ValueError(f"{section}.store is redis but neither its redis_url nor REDIS_URL")
        return url

    stages: list[Stage] = []
    observer: FetchObserver | None = None
    response_cache: ResponseCache | None = None
    responses: WholeResponses | None = None
    telemetry = config.telemetry
    if telemetry.metrics or telemetry.otlp_endpoint or span_exporter is not None:
        # Imported only when switched on: prometheus-client and OpenTelemetry load slowly
        # and a router without telemetry does not need them installed.
        from router.edge.telemetry import Telemetry

        def cache_counts() -> tuple[int, int]:
            cache = router.state.operations.cache
            return cache.hits, cache.misses

        stage = Telemetry(telemetry, cache_counts, span_exporter, lambda: response_cache)
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
    stages.append(PersistedQueryStage(PersistedQueries(store, lambda: _safelist(router))))
    limit = config.rate_limit
    if limit.enabled:
        buckets: BucketStore = (
            RedisBuckets(make_redis(redis_url(limit.redis_url, "rate_limit")))
            if limit.store == "redis"
            else MemoryBuckets()
        )
        stages.append(RateLimit(limit, buckets))
    cached = config.response_cache
    if cached.enabled:
        cache_store: CacheStore = (
            RedisStore(
                make_redis(redis_url(cached.redis_url, "response_cache")),
                cached.key_prefix,
                cached.max_age_seconds,
            )
            if cached.store == "redis"
            else MemoryStore(cached.memory_size, cached.memory_max_bytes)
        )
        response_cache = ResponseCache(cached, cache_store, settings.nats_url, observer)
        stages.append(response_cache)
        observer = response_cache
        responses = WholeResponses(response_cache)
    return Edge(stages, observer, responses)


def operation_checks(
    settings: Settings, supergraph: Supergraph, api_schema: GraphQLSchema, config: RouterConfig
) -> list[OperationCheck[Any]]:
    """The checks of one schema state, in the order above; those switched off are left out.
    Bound to the settings, this is the router's `CheckFactory` (router/bootstrap.py)."""
    checks: list[OperationCheck[Any]] = []
    if not answers_introspection(config, settings):
        checks.append(IntrospectionDisabled())
    if config.persisted_queries.safelist:
        checks.append(SafelistCheck(Safelist.from_files(config.persisted_queries.safelist)))
    checks.append(LimitsCheck(OperationLimits(config.limits, supergraph.schema), api_schema))
    authorization = Authorization.build(supergraph, config.authorization)
    if authorization is not None:
        checks.append(AuthorizationCheck(authorization))
    return checks


def _safelist(router: Router) -> Safelist | None:
    """The running state's safelist (a reload reads the operation files again)."""
    for check in router.state.operations.checks:
        if isinstance(check, SafelistCheck):
            return check.safelist
    return None


def _redis(url: str) -> Any:
    from redis.asyncio import Redis

    return Redis.from_url(url)
