"""The router's request pipeline, independent of HTTP serving.

Order: prepare (cached parse + validate) → coerce variables → plan (cached per @skip/
@include variant) → execute fetches → answer introspection locally → project into the
client's shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLSchema, OperationType, execute_sync

from coursegraph.service_auth import ServiceSigner
from coursegraph.settings import get_settings
from router.api_schema import build_api_schema
from router.config import RouterConfig
from router.executor import Executor
from router.http import SubgraphClient, SubgraphClients, SubgraphEndpoint
from router.operation import OperationError, Operations
from router.planner.builder import PlanError
from router.projection import Projector
from router.supergraph import Supergraph
from router.types import JSONObject


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: JSONObject


class MethodNotAllowed(Exception):
    """A mutation sent over GET."""


class Router:
    def __init__(self, supergraph: Supergraph, config: RouterConfig) -> None:
        self.supergraph = supergraph
        self.config = config
        self.api_schema: GraphQLSchema = build_api_schema(supergraph)
        self.operations = Operations(supergraph, self.api_schema, config.plan_cache.size)
        signer = (
            ServiceSigner("router", get_settings().service_key("router"))
            if config.auth.sign_subgraph_requests
            else None
        )
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
            clients[graph] = SubgraphClient(
                endpoint, signer, config.traffic.max_connections_per_subgraph
            )
        self.clients = SubgraphClients(clients)
        self.executor = Executor(supergraph, self.clients)
        unknown = set(config.subgraphs) - {s.name for s in supergraph.subgraphs.values()}
        if unknown:
            raise ValueError(f"router.yaml names unknown subgraphs: {sorted(unknown)}")

    async def close(self) -> None:
        await self.clients.close()

    async def handle(
        self,
        query: Any,
        operation_name: Any,
        variables: Any,
        headers: Mapping[str, str],
        *,
        allow_mutation: bool = True,
    ) -> Response:
        if not isinstance(query, str) or not query.strip():
            return _bad_request("GraphQL operations must contain a non-empty `query`.")
        if operation_name is not None and not isinstance(operation_name, str):
            return _bad_request("`operationName` must be a string.")
        if variables is not None and not isinstance(variables, dict):
            return _bad_request("`variables` must be an object.")
        try:
            prepared = self.operations.prepare(query, operation_name)
            if not allow_mutation and prepared.kind is not OperationType.QUERY:
                raise MethodNotAllowed
            coerced = self.operations.coerce_variables(prepared, variables)
            planned = self.operations.planned(prepared, coerced)
        except OperationError as exc:
            return Response(exc.status, {"errors": exc.errors})
        except PlanError as exc:
            return Response(
                500,
                {
                    "errors": [
                        {"message": str(exc), "extensions": {"code": "QUERY_PLANNING_FAILED"}}
                    ]
                },
            )
        execution = await self.executor.execute(planned.plan, variables or {}, headers)
        if prepared.introspection is not None:
            result = execute_sync(
                self.api_schema, prepared.introspection, variable_values=variables
            )
            if result.data:
                execution.data.update(result.data)
            for error in result.errors or ():
                execution.errors.append(dict(error.formatted))
        errors = execution.errors
        data = Projector(errors).run(planned.projection, execution.data)
        body: JSONObject = {"data": data}
        if errors:
            body = {"errors": errors, "data": data}
        if self.config.debug.expose_query_plan:
            body["extensions"] = {"queryPlan": planned.plan.to_json()}
        return Response(200, body)


def _bad_request(message: str) -> Response:
    return Response(400, {"errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]})
