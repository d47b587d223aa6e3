"""`router.yaml`: the router's settings, one section per concern, unknown keys refused.

The format is a superset of rover's `supergraph.yaml`: a subgraph entry may say where the
subgraph is served (`routing_url`) and where its SDL comes from (`schema`). When entries do,
the router composes them itself instead of reading a supergraph file, so the repository's
`supergraph.yaml` is a valid router config as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from coursegraph.cors import parse_origins
from router.client_address import parse_networks


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SupergraphConfig(Section):
    # Supergraph SDL file; the CLI's --supergraph wins over it. Not with composed subgraphs.
    path: Path | None = None


class SchemaSourceConfig(Section):
    """Where a subgraph's SDL comes from (rover's `schema` block): exactly one of these."""

    # SDL file, relative to the config file.
    file: Path | None = None
    # SDL written inline.
    sdl: str | None = None
    # A running subgraph, asked for `{ _service { sdl } }`.
    subgraph_url: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SchemaSourceConfig:
        given = [name for name in ("file", "sdl", "subgraph_url") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError("schema needs exactly one of file, sdl, subgraph_url")
        return self


class SubgraphConfig(Section):
    # Composition (rover's fields): the URL written into the composed supergraph. Without
    # a `schema`, the router asks this URL for the SDL.
    routing_url: str | None = None
    schema_source: SchemaSourceConfig | None = Field(default=None, alias="schema")
    # Replaces the routing URL written in the supergraph.
    url: str | None = None
    # Per-request timeout for this subgraph; default: traffic.timeout_seconds.
    timeout_seconds: float | None = Field(default=None, gt=0)

    @property
    def composed(self) -> bool:
        return self.routing_url is not None or self.schema_source is not None


class RetryConfig(Section):
    # Extra attempts for a failed subgraph query (never mutations); 0 switches off.
    attempts: int = Field(default=2, ge=0)
    # First back-off; doubled per attempt, with jitter.
    backoff_seconds: float = Field(default=0.05, ge=0)


class CircuitBreakerConfig(Section):
    enabled: bool = True
    # Consecutive failures that open the circuit.
    failure_threshold: int = Field(default=5, ge=1)
    # Seconds it stays open before one probe request is let through (half-open).
    cool_down_seconds: float = Field(default=10.0, gt=0)


class TrafficConfig(Section):
    # Default per-subgraph request timeout.
    timeout_seconds: float = Field(default=10.0, gt=0)
    # Open keep-alive connections per subgraph; more concurrent requests wait their turn.
    max_connections_per_subgraph: int = Field(default=128, ge=1)
    # Retries of failed subgraph queries (mutations are never retried).
    retry: RetryConfig = RetryConfig()
    # Per subgraph: stop calling it for a while after consecutive failures.
    circuit_breaker: CircuitBreakerConfig = CircuitBreakerConfig()
    # Identical in-flight subgraph queries (same subgraph, body and forwarded auth) share
    # one request.
    deduplicate_queries: bool = False


class PlanCacheConfig(Section):
    # Operations (query text, operation name) kept parsed, validated and planned.
    size: int = Field(default=1024, ge=1)


class DebugConfig(Section):
    # Add the query plan to every response as extensions.queryPlan (and queryPlanText).
    expose_query_plan: bool = False
    # Add it only to requests that send `X-Coursegraph-Plan: 1` (GraphiQL's plan panel).
    # null: on only when COURSEGRAPH_ENV=development; never in production unless
    # ROUTER_EXPOSE_SCHEMA_IN_PRODUCTION=true (a plan shows subgraphs and internal fields).
    query_plan_header: bool | None = None


class ProgressiveOverrideConfig(Section):
    # `@override(label:)` labels that are on (`percent(N)` labels are drawn per request).
    labels: tuple[str, ...] = ()
    # Honour `X-Coursegraph-Override-Labels: a,percent(5)` (exactly those labels on besides
    # `labels`); never in production, where a client must not steer traffic.
    request_header: bool = True


class HeadersConfig(Section):
    # Client request headers passed on to every subgraph (case-insensitive).
    forward: tuple[str, ...] = ("authorization",)
    # Request id header: forwarded, or generated when the client sent none.
    request_id: str = "x-request-id"
    # Proxies in front of the router (CIDRs or addresses, as uvicorn's
    # forwarded_allow_ips): only from them is x-forwarded-for believed. Empty: the socket
    # peer is the client, whatever it writes (router/client_address.py).
    trusted_proxies: tuple[str, ...] = ()

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        parse_networks(value)
        return value


class AuthConfig(Section):
    # Sign subgraph requests as service `router` (HMAC headers, ARCHITECTURE.md).
    sign_subgraph_requests: bool = True
    # Verify bearer tokens at the edge (users' JWKS; algorithm, issuer, audience from
    # settings); a request with a bad token is refused with 401 UNAUTHENTICATED.
    verify_tokens: bool = True
    # Where the JWKS is; default: the settings' (users' /.well-known/jwks.json).
    jwks_url: str | None = None


class GraphiQLConfig(Section):
    # Serve the GraphiQL explorer to browsers on GET /graphql.
    enabled: bool = True


class LimitsConfig(Section):
    """Operation limits, checked once per cached operation after validation, before planning
    (a repeated operation pays nothing). `null` switches one limit off."""

    # Longest chain of nested selections (fragments expanded).
    max_depth: int | None = Field(default=15, ge=1)
    # Aliased fields in the operation.
    max_aliases: int | None = Field(default=30, ge=0)
    # Fields selected on the root type.
    max_root_fields: int | None = Field(default=20, ge=1)
    # Lexical tokens in the query text (the parser stops at the limit).
    max_tokens: int | None = Field(default=2000, ge=1)
    # Static cost estimate (Apollo's demand control over the subgraphs' @cost/@listSize): 1
    # per object, times list sizes, 10 per mutation root field. COST_ESTIMATED_TOO_EXPENSIVE.
    max_cost: int | None = Field(default=50_000, ge=1)
    # Size of a list whose field has no @listSize (a `first`/`last`/`limit` argument may
    # raise it, never lower it).
    default_list_size: int = Field(default=10, ge=1)
    # Objects the subgraphs may return for one request (the actual cost): past it, the
    # router stops fetching and answers COST_ACTUAL_TOO_EXPENSIVE with no data.
    max_response_objects: int | None = Field(default=50_000, ge=1)
    # Add `extensions.cost {estimated, actual}` to responses; default (null): only when
    # COURSEGRAPH_ENV=development.
    cost_extension: bool | None = None
    # Operations the router executes at once; more wait their turn, in arrival order —
    # except when every one in flight is waiting for subgraphs, then the next goes in: slow
    # subgraphs hold no one back. Fewer at once keep each one's data in the CPU's caches
    # (router/admission.py). null: no limit.
    operations_in_flight: int | None = Field(default=8, ge=1)
    # Request bodies larger than this are refused with 413.
    max_body_bytes: int = Field(default=1_000_000, ge=1)
    # Answer `__schema`/`__type`; default (null): only when COURSEGRAPH_ENV=development.
    introspection: bool | None = None


class CorsConfig(Section):
    # On whenever some origin is allowed; false switches CORS off whatever the origins.
    enabled: bool = True
    # Allowed origins: exact ("https://app.example.com"), or with `*` as the port or the
    # leftmost host label ("http://localhost:*"); "*" alone only without credentials.
    # null: the CORS_ORIGINS setting (in development, localhost and 127.0.0.1 on any port).
    origins: tuple[str, ...] | None = None
    # A regular expression of further allowed origins, e.g. preview deployments.
    origin_regex: str | None = None
    allow_credentials: bool = True
    allow_headers: tuple[str, ...] = (
        "authorization",
        "content-type",
        "apollo-require-preflight",
        "x-apollo-operation-name",
        "x-coursegraph-plan",
        "x-request-id",
    )
    allow_methods: tuple[str, ...] = ("GET", "POST", "OPTIONS")
    expose_headers: tuple[str, ...] = ("x-request-id", "retry-after")
    # How long a browser may cache a preflight answer.
    max_age_seconds: int = Field(default=600, ge=0)

    @model_validator(mode="after")
    def _valid_origins(self) -> CorsConfig:
        origins = self.origins or ()
        if self.allow_credentials and "*" in origins:
            raise ValueError("cors: origins '*' cannot be combined with allow_credentials")
        parse_origins(o for o in origins if o != "*")
        return self


class CsrfConfig(Section):
    # Apollo's CSRF prevention: a GET or a POST with a "simple" content type must carry a
    # header a browser cannot send cross-origin without a preflight.
    enabled: bool = True
    # Any of these headers (or a non-simple Content-Type) lets such a request through.
    required_headers: tuple[str, ...] = ("apollo-require-preflight", "x-apollo-operation-name")


class BucketConfig(Section):
    # Tokens a client may spend at once.
    capacity: int = Field(ge=1)
    # Tokens refilled per second.
    refill_per_second: float = Field(gt=0)


class CostClassConfig(BucketConfig):
    min_cost: int = Field(ge=0)


class RateLimitConfig(Section):
    enabled: bool = False
    # `memory` keeps buckets in this process; `redis` shares them between router instances.
    store: Literal["memory", "redis"] = "memory"
    # Redis URL for store=redis; default: the REDIS_URL setting.
    redis_url: str | None = None
    key_prefix: str = "coursegraph:ratelimit:"
    # Every request spends one token of the client's bucket.
    per_client: BucketConfig = BucketConfig(capacity=100, refill_per_second=20)
    # And one token of its cost class's bucket (per client): the highest class whose
    # `min_cost` the operation's static cost estimate reaches. Operations below every
    # class only spend from per_client.
    cost_classes: dict[str, CostClassConfig] = {
        "heavy": CostClassConfig(min_cost=1000, capacity=20, refill_per_second=1)
    }
    # Stricter buckets for operations that select one of these root fields (per client).
    sensitive_fields: tuple[str, ...] = ("login", "register")
    sensitive: BucketConfig = BucketConfig(capacity=5, refill_per_second=0.1)


class PersistedQueriesConfig(Section):
    # Automatic persisted queries (Apollo's `extensions.persistedQuery` protocol).
    apq: bool = True
    store: Literal["memory", "redis"] = "memory"
    redis_url: str | None = None
    key_prefix: str = "coursegraph:apq:"
    # Queries kept by the memory store (least recently used dropped first).
    memory_size: int = Field(default=4096, ge=1)
    # Seconds a registered query lives in Redis.
    redis_ttl_seconds: int = Field(default=86_400, ge=1)
    # Safelist mode: only operations found in these files run (relative to the config
    # file, or absolute), e.g. clients/operations/*.graphql.
    safelist: tuple[str, ...] = ()


class ResponseCacheConfig(Section):
    """Subgraph answers kept as the subgraphs' cache hints allow (docs/caching.md)."""

    enabled: bool = False
    store: Literal["memory", "redis"] = "memory"
    # redis: shared by every router instance; default REDIS_URL.
    redis_url: str | None = None
    key_prefix: str = "coursegraph:cache:"
    # What the memory store keeps, per router process: entries and bytes of answers
    # (least recently used dropped first). Redis: bound it with Redis's maxmemory.
    memory_size: int = Field(default=50_000, ge=1)
    memory_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    # The longest any entry is kept, whatever a subgraph's max-age says.
    max_age_seconds: float = Field(default=300.0, gt=0)
    # Without NATS_URL no event can drop an entry: each then lives at most this long,
    # the staleness bound events give otherwise.
    max_age_without_events_seconds: float = Field(default=1.0, ge=0, le=1.0)
    # Subgraphs whose answers are never cached, whatever they say: money is decided on
    # fresh data only.
    uncached_subgraphs: tuple[str, ...] = ("payments",)


class TelemetryConfig(Section):
    # Prometheus metrics on GET /metrics.
    metrics: bool = False
    metrics_path: str = "/metrics"
    # OpenTelemetry traces: OTLP/HTTP endpoint (e.g. http://collector:4318/v1/traces);
    # null: no tracing (no cost).
    otlp_endpoint: str | None = None
    service_name: str = "coursegraph-router"


class AuthorizationConfig(Section):
    # Enforce @authenticated / @requiresScopes / @policy from the supergraph.
    enabled: bool = True
    # Policies granted to a viewer: policy name -> roles that hold it. A policy not listed
    # is held by nobody.
    policies: dict[str, tuple[str, ...]] = {}


class SubscriptionsConfig(Section):
    # Subscription operations over WebSocket (graphql-transport-ws), SSE and multipart HTTP.
    enabled: bool = True
    # Open subscriptions one client (address + user) may hold; the next is refused.
    max_per_client: int = Field(default=20, ge=1)
    # Subscriptions one subgraph socket carries (clients with the same forwarded headers
    # share sockets); at most the subgraphs' SUBGRAPH_MAX_SUBSCRIPTIONS_PER_CONNECTION.
    max_per_upstream_connection: int = Field(default=100, ge=1)
    # SSE and multipart HTTP: a heartbeat (`:` comment, `{}` part) this often, so proxies
    # keep an idle response open.
    heartbeat_seconds: float = Field(default=5.0, gt=0)
    # WebSocket: time a client has to send `connection_init` after the upgrade.
    connection_init_timeout_seconds: float = Field(default=10.0, gt=0)


class RouterConfig(Section):
    # rover's supergraph.yaml field, accepted so that file is a config as it is; the
    # composer writes Federation 2 supergraphs whatever it says.
    federation_version: str | None = None
    supergraph: SupergraphConfig = SupergraphConfig()
    # Keyed by subgraph name as written in join__graph(name: ...).
    subgraphs: dict[str, SubgraphConfig] = {}
    traffic: TrafficConfig = TrafficConfig()
    plan_cache: PlanCacheConfig = PlanCacheConfig()
    debug: DebugConfig = DebugConfig()
    progressive_override: ProgressiveOverrideConfig = ProgressiveOverrideConfig()
    headers: HeadersConfig = HeadersConfig()
    auth: AuthConfig = AuthConfig()
    graphiql: GraphiQLConfig = GraphiQLConfig()
    limits: LimitsConfig = LimitsConfig()
    cors: CorsConfig = CorsConfig()
    csrf: CsrfConfig = CsrfConfig()
    rate_limit: RateLimitConfig = RateLimitConfig()
    persisted_queries: PersistedQueriesConfig = PersistedQueriesConfig()
    response_cache: ResponseCacheConfig = ResponseCacheConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    authorization: AuthorizationConfig = AuthorizationConfig()
    subscriptions: SubscriptionsConfig = SubscriptionsConfig()

    @property
    def composes(self) -> bool:
        """The subgraphs carry their schemas: the router composes the supergraph itself."""
        return any(subgraph.composed for subgraph in self.subgraphs.values())

    @model_validator(mode="after")
    def _one_supergraph_source(self) -> RouterConfig:
        if not self.composes:
            return self
        partial = sorted(name for name, sub in self.subgraphs.items() if not sub.composed)
        if partial:
            raise ValueError(
                f"subgraphs {partial} have no routing_url or schema: when the config lists "
                "subgraphs to compose, every entry is one"
            )
        if self.supergraph.path is not None:
            raise ValueError(
                "supergraph.path and subgraphs to compose are two supergraph sources; keep one"
            )
        return self


def load_config(path: str | Path | None) -> RouterConfig:
    if path is None:
        return RouterConfig()
    raw: Any = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: the router config must be a mapping")
    return RouterConfig.model_validate(raw)
