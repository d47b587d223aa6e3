"""`router.yaml`: the router's settings, one section per concern, unknown keys refused.

The format is a superset of rover's `supergraph.yaml`: a subgraph entry may say where the
subgraph is served (`routing_url`) and where its SDL comes from (`schema`). When entries do,
the router composes them itself instead of reading a supergraph file, so the repository's
`supergraph.yaml` is a valid router config as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator


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


class TrafficConfig(Section):
    # Default per-subgraph request timeout.
    timeout_seconds: float = Field(default=10.0, gt=0)
    # Open keep-alive connections per subgraph; more concurrent requests wait their turn.
    max_connections_per_subgraph: int = Field(default=128, ge=1)


class PlanCacheConfig(Section):
    # Operations (query text, operation name) kept parsed, validated and planned.
    size: int = Field(default=1024, ge=1)


class DebugConfig(Section):
    # Add the query plan to every response as extensions.queryPlan.
    expose_query_plan: bool = False


class HeadersConfig(Section):
    # Client request headers passed on to every subgraph (case-insensitive).
    forward: tuple[str, ...] = ("authorization",)
    # Request id header: forwarded, or generated when the client sent none.
    request_id: str = "x-request-id"


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
    headers: HeadersConfig = HeadersConfig()
    auth: AuthConfig = AuthConfig()
    graphiql: GraphiQLConfig = GraphiQLConfig()

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
