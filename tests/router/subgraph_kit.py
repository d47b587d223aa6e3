"""Tiny federation subgraphs for router tests: SDL plus resolver maps on graphql-core.

`build_subgraph_schema` adds what a Federation v2 subgraph serves (`_entities`,
`_service`, `_Any`, `_Entity`) to an SDL, like `@apollo/subgraph`'s buildSubgraphSchema,
so each test graph is written once as SDL (also fed to composition) and a few functions.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from graphql import (
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InterfaceTypeDefinitionNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    build_ast_schema,
    graphql,
    parse,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Resolvers = Mapping[str, Mapping[str, Callable[..., Any]]]

FEDERATION_PRELUDE = """
scalar _Any
scalar FieldSet
scalar link__Import
enum link__Purpose { SECURITY EXECUTION }
directive @link(url: String!, as: String, import: [link__Import], for: link__Purpose)
  repeatable on SCHEMA
directive @key(fields: FieldSet!, resolvable: Boolean = true) repeatable on OBJECT | INTERFACE
directive @requires(fields: FieldSet!) on FIELD_DEFINITION
directive @provides(fields: FieldSet!) on FIELD_DEFINITION
directive @external on OBJECT | FIELD_DEFINITION
directive @shareable repeatable on OBJECT | FIELD_DEFINITION
directive @override(from: String!, label: String) on FIELD_DEFINITION
directive @inaccessible on FIELD_DEFINITION | OBJECT | INTERFACE | UNION | ENUM | ENUM_VALUE
  | SCALAR | INPUT_OBJECT | INPUT_FIELD_DEFINITION | ARGUMENT_DEFINITION
directive @interfaceObject on OBJECT
directive @context(name: String!) repeatable on INTERFACE | OBJECT | UNION
directive @fromContext(field: String) on ARGUMENT_DEFINITION
directive @tag(name: String!) repeatable on FIELD_DEFINITION | OBJECT | INTERFACE | UNION
  | ARGUMENT_DEFINITION | SCALAR | ENUM | ENUM_VALUE | INPUT_OBJECT | INPUT_FIELD_DEFINITION
scalar federation__Scope
scalar federation__Policy
directive @authenticated on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM
directive @requiresScopes(scopes: [[federation__Scope!]!]!)
  on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM
directive @policy(policies: [[federation__Policy!]!]!)
  on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM
type _Service { sdl: String }
"""


def _entity_names(sdl: str) -> list[str]:
    names: list[str] = []
    for definition in parse(sdl).definitions:
        if isinstance(definition, ObjectTypeDefinitionNode | ObjectTypeExtensionNode) and any(
            d.name.value == "key" for d in definition.directives or ()
        ):
            names.append(definition.name.value)
    return names


def _interface_entities(sdl: str) -> list[str]:
    return [
        d.name.value
        for d in parse(sdl).definitions
        if isinstance(d, InterfaceTypeDefinitionNode)
        and any(x.name.value == "key" for x in d.directives or ())
    ]


def build_subgraph_schema(sdl: str, resolvers: Resolvers) -> GraphQLSchema:
    entities = _entity_names(sdl)
    interface_entities = _interface_entities(sdl)
    extra = "type _Service { sdl: String }\n"
    if entities:
        extra += f"union _Entity = {' | '.join(entities)}\n"
    has_query = "type Query" in sdl
    query_fields = "_service: _Service!\n"
    if entities:
        query_fields += "_entities(representations: [_Any!]!): [_Entity]!\n"
    extra += ("extend type Query {" if has_query else "type Query {") + query_fields + "}\n"
    full = FEDERATION_PRELUDE.replace("type _Service { sdl: String }\n", "") + sdl + extra
    schema = build_ast_schema(parse(full), assume_valid_sdl=True)

    def resolve_type(obj: Any, *_: Any) -> str | None:
        return obj.get("__typename") if isinstance(obj, dict) else None

    for gtype in schema.type_map.values():
        if isinstance(gtype, GraphQLInterfaceType | GraphQLUnionType):
            gtype.resolve_type = resolve_type
        if isinstance(gtype, GraphQLObjectType) and gtype.name in resolvers:
            for fname, fn in resolvers[gtype.name].items():
                if fname in gtype.fields:
                    gtype.fields[fname].resolve = fn

    async def resolve_entities(_: Any, info: Any, representations: list[dict[str, Any]]) -> Any:
        out = []
        for rep in representations:
            typename = rep["__typename"]
            ref = resolvers.get(typename, {}).get("__resolve_reference")
            value = ref(dict(rep)) if ref else dict(rep)
            if inspect.isawaitable(value):
                value = await value
            if isinstance(value, dict) and typename not in interface_entities:
                value = {"__typename": typename, **value}
            out.append(value)
        return out

    query = schema.query_type
    assert query is not None
    if entities:
        query.fields["_entities"].resolve = resolve_entities
    query.fields["_service"].resolve = lambda *_: {"sdl": sdl}
    return schema


class SubgraphApp:
    """Serves one schema at POST /graphql, recording each request for assertions. With
    `cache_control` (and `cache_tag`), answers without errors carry those headers, as the
    real subgraphs' cache hints give them (coursegraph/cache_control.py)."""

    def __init__(
        self,
        schema: GraphQLSchema,
        delay: float = 0.0,
        cache_control: str | None = None,
        cache_tag: str | None = None,
    ) -> None:
        self.schema = schema
        self.delay = delay
        self.cache_control = cache_control
        self.cache_tag = cache_tag
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.bodies: list[bytes] = []

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        payload = orjson.loads(body)
        self.requests.append(payload)
        self.headers.append(dict(request.headers))
        self.bodies.append(body)
        if self.delay:
            await asyncio.sleep(self.delay)
        result = await graphql(
            self.schema,
            payload["query"],
            variable_values=payload.get("variables"),
            operation_name=payload.get("operationName"),
        )
        out: dict[str, Any] = {"data": result.data}
        headers: dict[str, str] = {}
        if result.errors:
            out["errors"] = [_format(e) for e in result.errors]
            headers["cache-control"] = "no-store"
        elif self.cache_control is not None:
            headers["cache-control"] = self.cache_control
            if self.cache_tag is not None:
                headers["cache-tag"] = self.cache_tag
        return Response(orjson.dumps(out), media_type="application/json", headers=headers)

    def routes(self, prefix: str) -> list[Route]:
        return [Route(f"{prefix}/graphql", self.endpoint, methods=["POST"])]


def _format(error: GraphQLError) -> dict[str, Any]:
    return dict(error.formatted)


def subgraph_app(apps: Mapping[str, SubgraphApp]) -> Starlette:
    routes: list[Route] = []
    for prefix, app in apps.items():
        routes.extend(app.routes(prefix))
    return Starlette(routes=routes)
