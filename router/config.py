"""`router.yaml`: the router's settings, one section per concern, unknown keys refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SupergraphConfig(Section):
    # Supergraph SDL file; the CLI's --supergraph wins over it.
    path: Path | None = None


class SubgraphConfig(Section):
    # Replaces the routing URL written in the supergraph.
    url: str | None = None
    # Per-request timeout for this subgraph; default: traffic.timeout_seconds.
    timeout_seconds: float | None = Field(default=None, gt=0)


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
    supergraph: SupergraphConfig = SupergraphConfig()
    # Keyed by subgraph name as written in join__graph(name: ...).
    subgraphs: dict[str, SubgraphConfig] = {}
    traffic: TrafficConfig = TrafficConfig()
    plan_cache: PlanCacheConfig = PlanCacheConfig()
    debug: DebugConfig = DebugConfig()
    headers: HeadersConfig = HeadersConfig()
    auth: AuthConfig = AuthConfig()
    graphiql: GraphiQLConfig = GraphiQLConfig()


def load_config(path: str | Path | None) -> RouterConfig:
    if path is None:
        return RouterConfig()
    raw: Any = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: the router config must be a mapping")
    return RouterConfig.model_validate(raw)
