"""Everything that depends on the supergraph, built together and swapped as one.

A `SchemaState` is never changed after it is built: a request reads the router's current
state once and uses only that object, so a hot reload is one reference assignment and a
request in flight finishes on the schema it started with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from graphql import GraphQLSchema

from coursegraph.service_auth import ServiceSigner
from coursegraph.settings import Settings
from router.api_schema import build_api_schema
from router.checks import CheckFactory
from router.config import RouterConfig
from router.executor import Executor
from router.exposure import plan_on_request
from router.http import SubgraphClient, SubgraphClients, SubgraphEndpoint
from router.operation import Operations
from router.override import OverrideLabels
from router.supergraph import Supergraph
from router.traffic import SubgraphTraffic


@dataclass(frozen=True, slots=True)
class SchemaState:
    supergraph: Supergraph
    config: RouterConfig
    api_schema: GraphQLSchema
    # Prepared operations and their plans; they belong to this supergraph only.
    operations: Operations
    clients: SubgraphClients
    executor: Executor
    # Which progressive override labels are on for a request.
    override: OverrideLabels
    # Whether a request's `X-Coursegraph-Plan: 1` gets the plan (debug.query_plan_header).
    plan_on_request: bool = False
    # Names the supergraph and config, which answers depend on: whole answers kept in a
    # shared store by one state are never served by another (router/edge/whole.py).
    digest: str = ""

    @classmethod
    def build(
        cls,
        supergraph: Supergraph,
        config: RouterConfig,
        *,
        settings: Settings,
        signer: ServiceSigner | None,
        checks: CheckFactory,
        reuse: Iterable[SubgraphClient] = (),
    ) -> SchemaState:
        """Build a state; `checks` makes its operation checks. Clients in `reuse` whose
        endpoint is unchanged are kept, so a reload does not drop their warm connections."""
        unknown = set(config.subgraphs) - {s.name for s in supergraph.subgraphs.values()}
        if unknown:
            raise ValueError(f"the router config names unknown subgraphs: {sorted(unknown)}")
        reusable = {client.endpoint: client for client in reuse}
        clients = {}
        for graph, subgraph in supergraph.subgraphs.items():
            override = config.subgraphs.get(subgraph.name)
            endpoint = SubgraphEndpoint(
                name=subgraph.name,
                url=(override.url if override and override.url else subgraph.url),
                timeout_seconds=(
                    override.timeout_seconds
                    if override and override.timeout_seconds
                    else config.traffic.timeout_seconds
                ),
            )
            client = reusable.get(endpoint)
            if (
                client is None
                or client.max_connections != config.traffic.max_connections_per_subgraph
            ):
                client = SubgraphClient(
                    endpoint, signer, config.traffic.max_connections_per_subgraph
                )
            clients[graph] = client
        api_schema = build_api_schema(supergraph)
        return cls(
            supergraph=supergraph,
            config=config,
            api_schema=api_schema,
            operations=Operations(
                supergraph,
                api_schema,
                config.plan_cache.size,
                checks(supergraph, api_schema, config),
                max_tokens=config.limits.max_tokens,
            ),
            clients=SubgraphClients(clients),
            executor=Executor(
                supergraph,
                {
                    graph: SubgraphTraffic(client, config.traffic)
                    for graph, client in clients.items()
                },
                config.limits.max_response_objects,
            ),
            override=OverrideLabels(supergraph, config.progressive_override, settings),
            plan_on_request=plan_on_request(config, settings),
            digest=hashlib.sha256(
                f"{supergraph.sdl}\n{config.model_dump_json()}".encode()
            ).hexdigest(),
        )
