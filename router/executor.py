"""Run a query plan: send fetches, merge subgraph data in place, map subgraph errors.

Root fetches merge into the response tree; entity fetches gather the objects at their
path, send one de-duplicated `_entities` call and merge each result into every object
that shares its representation. A failing subgraph yields a SERVICE_UNAVAILABLE error and
leaves its fields missing, which the projection turns into nulls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, Protocol

import orjson

from router.http import SubgraphClients, SubgraphUnavailable
from router.planner.plan import (
    Fetch,
    FetchNode,
    ParallelNode,
    Plan,
    PlanNode,
    RepSpec,
    SequenceNode,
)
from router.planner.selection import RepField
from router.supergraph import Supergraph
from router.traffic import SubgraphTraffic
from router.types import JSONObject, PlanPath, ResponsePath

SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
log = logging.getLogger("router")
_MISSING = object()
_UNSET = RepSpec("", ())


def deep_merge(target: JSONObject, source: JSONObject) -> None:
    if target.keys().isdisjoint(source):
        target.update(source)
        return
    for key, value in source.items():
        current = target.get(key)
        if current is None or value is None:
            if value is not None or key not in target:
                target[key] = value
        elif isinstance(current, dict) and isinstance(value, dict):
            deep_merge(current, value)
        elif isinstance(current, list) and isinstance(value, list) and len(current) == len(value):
            for index, (old, new) in enumerate(zip(current, value, strict=True)):
                if isinstance(old, dict) and isinstance(new, dict):
                    deep_merge(old, new)
                else:
                    current[index] = new
        else:
            target[key] = value


def objects_at(data: JSONObject, path: PlanPath) -> list[JSONObject]:
    current: list[Any] = [data]
    for segment in path:
        following: list[Any] = []
        if segment == "@":
            for value in current:
                if isinstance(value, list):
                    following.extend(value)
        else:
            for value in current:
                if isinstance(value, dict):
                    child = value.get(segment)
                    if child is not None:
                        following.append(child)
        current = following
    return [value for value in current if isinstance(value, dict)]


def locate(data: JSONObject, path: PlanPath, target: JSONObject) -> ResponsePath | None:
    """The response path of `target`, an object found at plan path `path` (for errors)."""
    current: list[tuple[Any, ResponsePath]] = [(data, [])]
    for segment in path:
        following: list[tuple[Any, ResponsePath]] = []
        for value, where in current:
            if segment == "@":
                if isinstance(value, list):
                    following.extend((v, [*where, i]) for i, v in enumerate(value))
            elif isinstance(value, dict) and value.get(segment) is not None:
                following.append((value[segment], [*where, segment]))
        current = following
    for value, where in current:
        if value is target:
            return where
    return None


def _rep_value(value: Any, field: RepField, implements: Mapping[str, frozenset[str]]) -> Any:
    if value is None or field.sub is None:
        return value
    if isinstance(value, list):
        return [_rep_value(v, field, implements) for v in value]
    if not isinstance(value, dict):
        return value
    out = _rep_object(value, field.sub, implements)
    if field.fragments:
        typename = value.get("__typename")
        for condition, fields in field.fragments:
            if typename == condition or condition in implements.get(typename or "", ()):
                extra = _rep_object(value, fields, implements)
                if extra is not None:
                    out = {**(out or {}), **extra}
    return out


def _rep_object(
    obj: JSONObject, fields: tuple[RepField, ...], implements: Mapping[str, frozenset[str]]
) -> JSONObject | None:
    out: JSONObject = {}
    for field in fields:
        if field.key not in obj:
            return None
        out[field.name] = _rep_value(obj[field.key], field, implements)
    return out


def representation(
    obj: JSONObject, spec: RepSpec, implements: Mapping[str, frozenset[str]]
) -> JSONObject | None:
    out: JSONObject = {"__typename": spec.typename}
    for field in spec.fields:
        if field.name == "__typename":
            continue
        value = obj.get(field.key)
        # A missing key field (failed fetch, null key) cannot identify an entity.
        if value is None and (field.key not in obj or field.sub is not None):
            return None
        out[field.name] = _rep_value(value, field, implements)
    return out


class Execution:
    """State of one request's plan execution."""

    __slots__ = ("data", "errors", "executor", "headers", "observer", "variables")

    def __init__(
        self,
        executor: Executor,
        variables: Mapping[str, Any],
        headers: Mapping[str, str],
        observer: FetchObserver | None = None,
    ) -> None:
        self.executor = executor
        self.observer = observer
        self.variables = variables
        self.headers = headers
        self.data: JSONObject = {}
        self.errors: list[JSONObject] = []

    async def run(self, node: PlanNode) -> None:
        if isinstance(node, FetchNode):
            fetch = node.fetch
            if fetch.entity:
                await self.entity_fetch(fetch)
            else:
                await self.root_fetch(fetch)
        elif isinstance(node, SequenceNode):
            for child in node.nodes:
                await self.run(child)
        elif isinstance(node, ParallelNode):
            await asyncio.gather(*(self.run(child) for child in node.nodes))

    def _variables(self, fetch: Fetch) -> dict[str, Any]:
        variables = self.variables
        return {name: variables[name] for name in fetch.variable_names if name in variables}

    async def _send(self, fetch: Fetch, variables: dict[str, Any]) -> JSONObject | None:
        payload: JSONObject = {"query": fetch.document}
        if variables:
            payload["variables"] = variables
        traffic = self.executor.traffic[fetch.graph]
        # A mutation is never sent twice, even on a connection that looked dead.
        idempotent = fetch.operation_kind != "mutation"
        try:
            observer = self.observer
            if observer is None:
                return await traffic.request(payload, self.headers, idempotent=idempotent)
            return await observer.fetch(traffic, payload, self.headers, idempotent)
        except SubgraphUnavailable as exc:
            name = traffic.endpoint.name
            log.warning(
                "subgraph %s unavailable (request %s): %s",
                name,
                self.headers.get("x-request-id", "-"),
                exc,
            )
            self.errors.append(
                {
                    "message": f"Subgraph '{name}' is unavailable: {exc}",
                    "extensions": {"code": SERVICE_UNAVAILABLE, "serviceName": name},
                }
            )
            return None

    async def root_fetch(self, fetch: Fetch) -> None:
        result = await self._send(fetch, self._variables(fetch))
        if result is None:
            return
        data = result.get("data")
        if isinstance(data, dict):
            if fetch.renames is not None:
                fetch.renames.apply(data)
            deep_merge(self.data, data)
        for error in result.get("errors") or ():
            self.errors.append(self._subgraph_error(fetch, error, error.get("path")))

    async def entity_fetch(self, fetch: Fetch) -> None:
        implements = self.executor.implements
        representations: list[JSONObject] = []
        targets: list[list[JSONObject]] = []
        index: dict[object, int] = {}
        specs: dict[str, RepSpec | None] = {}
        for obj in objects_at(self.data, fetch.path):
            typename = obj.get("__typename", "")
            spec = specs.get(typename, _UNSET)
            if spec is _UNSET:
                spec = specs[typename] = fetch.rep_for(typename, implements)
            if spec is None:
                continue
            flat = spec.flat
            digest: object
            if flat is not None:
                # Fast path: scalar keys; the tuple of values identifies the entity.
                values = tuple([obj.get(key, _MISSING) for _, key in flat])
                if _MISSING in values:
                    continue
                try:
                    digest = (spec.typename, values)
                    position = index.get(digest)
                except TypeError:  # a list or object value: not hashable
                    digest = orjson.dumps([spec.typename, values])
                    position = index.get(digest)
                if position is None:
                    flat_rep: JSONObject = {"__typename": spec.typename}
                    for (name, _), value in zip(flat, values, strict=True):
                        flat_rep[name] = value
                    index[digest] = len(representations)
                    representations.append(flat_rep)
                    targets.append([obj])
                else:
                    targets[position].append(obj)
                continue
            rep = representation(obj, spec, implements)
            if rep is None:
                continue
            digest = orjson.dumps(rep)
            position = index.get(digest)
            if position is None:
                index[digest] = len(representations)
                representations.append(rep)
                targets.append([obj])
            else:
                targets[position].append(obj)
        if not representations:
            return
        variables = self._variables(fetch)
        variables["representations"] = representations
        result = await self._send(fetch, variables)
        if result is None:
            return
        data = result.get("data")
        entities = data.get("_entities") if isinstance(data, dict) else None
        if isinstance(entities, list):
            if fetch.renames is not None:
                fetch.renames.apply(entities)
            for position, entity in enumerate(entities[: len(targets)]):
                if isinstance(entity, dict):
                    for obj in targets[position]:
                        deep_merge(obj, entity)
        for error in result.get("errors") or ():
            path = error.get("path")
            mapped: ResponsePath | None = None
            if (
                isinstance(path, list)
                and len(path) >= 2
                and path[0] == "_entities"
                and isinstance(path[1], int)
                and path[1] < len(targets)
            ):
                where = locate(self.data, fetch.path, targets[path[1]][0])
                if where is not None:
                    mapped = [*where, *path[2:]]
            self.errors.append(self._subgraph_error(fetch, error, mapped))

    def _subgraph_error(self, fetch: Fetch, error: Any, path: Any) -> JSONObject:
        if not isinstance(error, dict):
            error = {"message": str(error)}
        out: JSONObject = {"message": error.get("message", "subgraph error")}
        if path:
            out["path"] = path
        extensions = dict(error.get("extensions") or {})
        extensions.setdefault("serviceName", self.executor.clients[fetch.graph].endpoint.name)
        out["extensions"] = extensions
        return out


class FetchObserver(Protocol):
    """Telemetry around each subgraph fetch (metrics, a span, trace propagation)."""

    async def fetch(
        self,
        traffic: SubgraphTraffic,
        payload: JSONObject,
        headers: Mapping[str, str],
        idempotent: bool,
    ) -> JSONObject: ...


class Executor:
    def __init__(
        self,
        supergraph: Supergraph,
        clients: SubgraphClients,
        traffic: Mapping[str, SubgraphTraffic],
    ) -> None:
        self.clients = clients
        # What fetches go through: retries, circuit breaker, de-duplication (traffic.py).
        self.traffic = traffic
        # Interfaces of each object type, for typename matching of @interfaceObject fetches.
        self.implements: dict[str, frozenset[str]] = {
            name: frozenset(i.name for i in getattr(t, "interfaces", ()))
            for name, t in supergraph.schema.type_map.items()
        }

    async def execute(
        self,
        plan: Plan,
        variables: Mapping[str, Any],
        headers: Mapping[str, str],
        observer: FetchObserver | None = None,
    ) -> Execution:
        execution = Execution(self, variables, headers, observer)
        if plan.root is not None:
            await execution.run(plan.root)
        return execution
