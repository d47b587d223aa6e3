"""Run a query plan: send fetches, merge subgraph data in place, map subgraph errors.

Root fetches merge into the response tree; entity fetches gather the objects at their
path, send one de-duplicated `_entities` call and merge each result into every object
that shares its representation; a batch sends several entity fetches to one subgraph in
one request, an aliased `_entities` field each. A failing subgraph yields a
SERVICE_UNAVAILABLE error and leaves its fields missing, which the projection turns into
nulls.

Every subgraph answer is counted (its JSON objects, see `SubgraphAnswer`) before it is
merged: the total is the request's actual cost, and past `max_objects` the execution stops
— nothing more is merged or fetched — and the request is answered with one
COST_ACTUAL_TOO_EXPENSIVE error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any, Final, Protocol

import orjson

from coursegraph.limits import count_objects
from router.admission import Ticket
from router.context_values import context_values, objects_with_ancestors
from router.http import SubgraphAnswer
from router.planner.context import grouped_request
from router.planner.plan import (
    BatchNode,
    Fetch,
    FetchNode,
    ParallelNode,
    Plan,
    PlanNode,
    RepSpec,
    SequenceNode,
    Step,
)
from router.planner.selection import RepField
from router.subgraph_errors import SubgraphUnavailable
from router.supergraph import Supergraph
from router.traffic import SubgraphTraffic
from router.types import JSONObject, PlanPath, ResponsePath

# Final: compiled (router/native.py), constants rather than global look-ups.
SERVICE_UNAVAILABLE: Final = "SERVICE_UNAVAILABLE"
COST_ACTUAL_TOO_EXPENSIVE: Final = "COST_ACTUAL_TOO_EXPENSIVE"
# Groups of different @fromContext values sent in one request at most: bounds the aliases
# a subgraph receives (its own limit is 100) and the documents a plan keeps (one per size).
CONTEXT_GROUPS: Final = 32
log = logging.getLogger("router")
_UNSET: Final[Any] = object()


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
            for index in range(len(current)):
                old, new = current[index], value[index]
                if isinstance(old, dict) and isinstance(new, dict):
                    deep_merge(old, new)
                else:
                    current[index] = new
        else:
            target[key] = value


def objects_at(data: JSONObject, path: PlanPath) -> list[JSONObject]:
    current: list[Any] = [data]
    for segment in path:
        if segment == "@":
            following: list[Any] = []
            for value in current:
                if isinstance(value, list):
                    following.extend(value)
            current = following
        else:
            # Comprehensions: the hot loop of every entity fetch (profiled, bench/run.py).
            current = [
                child
                for value in current
                if isinstance(value, dict) and (child := value.get(segment)) is not None
            ]
    return [value for value in current if isinstance(value, dict)]


def _flat_getter(spec: RepSpec) -> Callable[[JSONObject], Any] | None:
    """For a spec of scalar key fields: one C call reading them all from an object (the
    value itself for one field, a tuple for several; KeyError when one is missing)."""
    if not spec.flat:
        return None
    return itemgetter(*[key for _, key in spec.flat])


def objects_with_paths(data: JSONObject, path: PlanPath) -> list[tuple[ResponsePath, JSONObject]]:
    """The objects at plan path `path` (`@`: every list element) with their response paths."""
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
    return [(where, value) for value, where in current if isinstance(value, dict)]


def locate(data: JSONObject, path: PlanPath, target: JSONObject) -> ResponsePath | None:
    """The response path of `target`, an object found at plan path `path` (for errors)."""
    return next((where for where, value in objects_with_paths(data, path) if value is target), None)


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


class Tally:
    """Objects the subgraphs returned for one request (its actual cost), shared by the parts
    of a deferred execution; past the cap, every part stops."""

    __slots__ = ("objects", "too_large")

    def __init__(self) -> None:
        self.objects = 0
        self.too_large = False


class Execution:
    """State of one request's plan execution (or of one part of it, `fork`)."""

    __slots__ = (
        "data",
        "errors",
        "executor",
        "headers",
        "observer",
        "tally",
        "ticket",
        "variables",
    )

    def __init__(
        self,
        executor: Executor,
        variables: Mapping[str, Any],
        headers: Mapping[str, str],
        observer: FetchObserver | None = None,
        tally: Tally | None = None,
        ticket: Ticket | None = None,
    ) -> None:
        self.executor = executor
        # The operation's place among those the router works on (router/admission.py);
        # None for parts that run after the operation is answered (@defer, events).
        self.ticket = ticket
        self.observer = observer
        self.variables = variables
        self.headers = headers
        self.data: JSONObject = {}
        self.errors: list[JSONObject] = []
        self.tally = tally if tally is not None else Tally()

    @property
    def objects(self) -> int:
        return self.tally.objects

    @property
    def too_large(self) -> bool:
        return self.tally.too_large

    def fork(self) -> Execution:
        """An execution of another part of the same plan (@defer): the same data tree and
        object count, errors of its own."""
        part = Execution(self.executor, self.variables, self.headers, self.observer, self.tally)
        part.data = self.data
        return part

    def admit(self, answer: JSONObject) -> bool:
        """Count the objects in a subgraph answer; False (and stop) past the cap."""
        tally = self.tally
        if tally.too_large:
            return False
        limit = self.executor.max_objects
        if isinstance(answer, SubgraphAnswer):
            tally.objects += answer.objects
        else:  # an answer that did not come over HTTP (tests' stand-ins)
            tally.objects += count_objects(answer, None if limit is None else limit - tally.objects)
        if limit is not None and tally.objects > limit:
            tally.too_large = True
            return False
        return True

    async def run(self, node: PlanNode) -> None:
        if self.too_large:
            return
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
            await asyncio.gather(*[self.run(child) for child in node.nodes])
        elif isinstance(node, BatchNode):
            await self.batch_fetch(node)

    async def run_steps(self, steps: tuple[Step, ...], first_done: bool = False) -> None:
        """Start each step as soon as the steps it waits for are done. `first_done`: the
        first step (a subscription's root fetch) already ran; its event is in the data."""
        if not steps:
            return
        if len(steps) == 1 and not first_done:
            await self.run(steps[0].node)
            return
        done = [asyncio.Event() for _ in steps]
        if first_done:
            done[0].set()

        async def run(position: int, step: Step) -> None:
            try:
                for wait in step.waits:
                    await done[wait].wait()
                await self.run(step.node)
            finally:
                # Also after a failure, so no step waits forever (the error still surfaces).
                done[position].set()

        await asyncio.gather(
            *[run(i, step) for i, step in enumerate(steps) if not (first_done and i == 0)]
        )

    def _variables(self, fetch: Fetch) -> dict[str, Any]:
        variables = self.variables
        return {name: variables[name] for name in fetch.variable_names if name in variables}

    async def _send(
        self, graph: str, document: str, variables: dict[str, Any], idempotent: bool, fetches: int
    ) -> JSONObject | None:
        payload: JSONObject = {"query": document}
        if variables:
            payload["variables"] = variables
        traffic = self.executor.traffic[graph]
        ticket = self.ticket
        if ticket is not None:
            ticket.sent()
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
            # One error per fetch, as when each fetch had its own request.
            self.errors.extend(
                {
                    "message": f"Subgraph '{name}' is unavailable: {exc}",
                    "extensions": {"code": SERVICE_UNAVAILABLE, "serviceName": name},
                }
                for _ in range(fetches)
            )
            return None
        finally:
            if ticket is not None:
                ticket.answered()

    async def root_fetch(self, fetch: Fetch) -> None:
        # A mutation is never sent twice, even on a connection that looked dead.
        idempotent = fetch.operation_kind != "mutation"
        result = await self._send(
            fetch.graph, fetch.document, self._variables(fetch), idempotent, 1
        )
        if result is not None:
            self.take_root(fetch, result)

    def take_root(self, fetch: Fetch, result: JSONObject) -> bool:
        """Merge a root fetch's answer (or a subscription event) into the data; False when
        the response cap stopped the execution."""
        if not self.admit(result):
            return False
        data = result.get("data")
        if isinstance(data, dict):
            if fetch.renames is not None:
                fetch.renames.apply(data)
            deep_merge(self.data, data)
        for error in result.get("errors") or ():
            self.errors.append(self._subgraph_error(fetch, error, error.get("path")))
        return True

    def _representations(
        self, fetch: Fetch
    ) -> tuple[list[JSONObject], list[list[JSONObject]]] | None:
        """The de-duplicated representations of the objects at the fetch's path, and for
        each one the objects that share it; None when there is nothing to fetch."""
        implements = self.executor.implements
        representations: list[JSONObject] = []
        targets: list[list[JSONObject]] = []
        index: dict[object, int] = {}
        # Per __typename: its spec and, for scalar keys, the getter of their values.
        specs: dict[str, tuple[RepSpec, Callable[[JSONObject], Any] | None] | None] = {}
        for obj in objects_at(self.data, fetch.path):
            typename = obj.get("__typename", "")
            entry = specs.get(typename, _UNSET)
            if entry is _UNSET:
                found = fetch.rep_for(typename, implements)
                entry = specs[typename] = None if found is None else (found, _flat_getter(found))
            if entry is None:
                continue
            spec, getter = entry
            digest: object
            if getter is not None:
                # Fast path: scalar keys; their values identify the entity.
                try:
                    values = getter(obj)
                except KeyError:
                    continue
                try:
                    digest = (spec.typename, values)
                    position = index.get(digest)
                except TypeError:  # a list or object value: not hashable
                    digest = orjson.dumps([spec.typename, values])
                    position = index.get(digest)
                if position is None:
                    flat = spec.flat
                    assert flat is not None
                    flat_rep: JSONObject = {"__typename": spec.typename}
                    if len(flat) == 1:
                        flat_rep[flat[0][0]] = values
                    else:
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
            return None
        return representations, targets

    async def entity_fetch(self, fetch: Fetch) -> None:
        if fetch.context_args:
            await self.contextual_fetch(fetch)
            return
        collected = self._representations(fetch)
        if collected is not None:
            await self._entity_request(fetch, *collected)

    async def contextual_fetch(self, fetch: Fetch) -> None:
        """An entity fetch whose fields take @fromContext values: representations are
        grouped by those values; one group is one plain `_entities` call with the values as
        variables, several are one request with an aliased `_entities` field per group (up
        to CONTEXT_GROUPS a request, the requests concurrent)."""
        implements = self.executor.implements
        groups: dict[bytes, tuple[dict[str, Any], list[JSONObject], list[list[JSONObject]]]] = {}
        seen: dict[bytes, int] = {}
        for obj, chain in objects_with_ancestors(self.data, fetch.path):
            spec = fetch.rep_for(obj.get("__typename", ""), implements)
            rep = representation(obj, spec, implements) if spec is not None else None
            if rep is None:
                continue
            values = context_values(chain, fetch.context_args)
            group_key = orjson.dumps(values, option=orjson.OPT_SORT_KEYS)
            values, reps, targets = groups.setdefault(group_key, (values, [], []))
            digest = group_key + b"\0" + orjson.dumps(rep)
            position = seen.get(digest)
            if position is None:
                seen[digest] = len(reps)
                reps.append(rep)
                targets.append([obj])
            else:
                targets[position].append(obj)
        if not groups:
            return
        entries = list(groups.values())
        chunks = [entries[i : i + CONTEXT_GROUPS] for i in range(0, len(entries), CONTEXT_GROUPS)]
        await asyncio.gather(*[self._context_request(fetch, chunk) for chunk in chunks])

    async def _context_request(
        self,
        fetch: Fetch,
        groups: list[tuple[dict[str, Any], list[JSONObject], list[list[JSONObject]]]],
    ) -> None:
        if len(groups) == 1:
            values, reps, targets = groups[0]
            await self._entity_request(fetch, reps, targets, values)
            return
        request = fetch.grouped.get(len(groups))
        if request is None:
            request = fetch.grouped[len(groups)] = grouped_request(
                fetch.document, fetch.context_args, fetch.variable_names, len(groups)
            )
        variables = self._variables(fetch)
        for index, (values, reps, _) in enumerate(groups):
            variables[request.representations[index]] = reps
            names = request.variables[index]
            variables.update({names[name]: value for name, value in values.items()})
        result = await self._send(fetch.graph, request.document, variables, True, 1)
        if result is None or not self.admit(result):
            return
        data = result.get("data")
        parts = [data.get(f"_{i}") if isinstance(data, dict) else None for i in range(len(groups))]
        if not all(isinstance(part, list) for part in parts):
            # An error on one alias nulled the whole `data`: ask per group (queries only).
            await asyncio.gather(*[self._entity_request(fetch, r, t, v) for v, r, t in groups])
            return
        errors: list[list[JSONObject]] = [[] for _ in groups]
        for error in result.get("errors") or ():
            path = error.get("path") if isinstance(error, dict) else None
            alias = path[0] if isinstance(path, list) and path else None
            if isinstance(alias, str) and alias[1:].isdigit() and int(alias[1:]) < len(groups):
                assert isinstance(path, list)
                errors[int(alias[1:])].append({**error, "path": ["_entities", *path[1:]]})
            else:
                errors[0].append(error)
        for (_, _, targets), part, own in zip(groups, parts, errors, strict=True):
            self._merge_entities(fetch, targets, part, own)

    async def _entity_request(
        self,
        fetch: Fetch,
        representations: list[JSONObject],
        targets: list[list[JSONObject]],
        context: dict[str, Any] | None = None,
    ) -> None:
        variables = self._variables(fetch)
        if context:
            variables.update(context)
        variables["representations"] = representations
        result = await self._send(fetch.graph, fetch.document, variables, True, 1)
        if result is None or not self.admit(result):
            return
        data = result.get("data")
        entities = data.get("_entities") if isinstance(data, dict) else None
        self._merge_entities(fetch, targets, entities, result.get("errors") or ())

    def _merge_entities(
        self, fetch: Fetch, targets: list[list[JSONObject]], entities: Any, errors: Any
    ) -> None:
        if isinstance(entities, list):
            if fetch.renames is not None:
                fetch.renames.apply(entities)
            for position, entity in enumerate(entities[: len(targets)]):
                if isinstance(entity, dict):
                    for obj in targets[position]:
                        deep_merge(obj, entity)
        for error in errors:
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

    async def batch_fetch(self, batch: BatchNode) -> None:
        """Entity fetches to one subgraph in one request, each under its own alias; each
        alias's entities and errors then go through its fetch's own merge."""
        ready: list[tuple[Fetch, list[JSONObject], list[list[JSONObject]]]] = []
        for fetch in batch.fetches:
            collected = self._representations(fetch)
            if collected is not None:
                ready.append((fetch, *collected))
        if len(ready) <= 1:
            if ready:
                await self._entity_request(*ready[0])
            return
        request = batch.request(tuple(fetch for fetch, _, _ in ready))
        variables: dict[str, Any] = {}
        for (fetch, representations, _), name in zip(ready, request.rep_variables, strict=True):
            variables.update(self._variables(fetch))
            variables[name] = representations
        result = await self._send(ready[0][0].graph, request.document, variables, True, len(ready))
        if result is None or not self.admit(result):
            return
        data = result.get("data")
        parts = [data.get(f"_{i}") if isinstance(data, dict) else None for i in range(len(ready))]
        if not all(isinstance(part, list) for part in parts):
            # `_entities` is non-null: an error on one alias's field nulls the whole `data`,
            # which separate requests would not have done to the other fetches. Send them
            # separately then (queries only, so sending again is harmless).
            await asyncio.gather(*[self._entity_request(*entry) for entry in ready])
            return
        errors: list[list[JSONObject]] = [[] for _ in ready]
        for error in result.get("errors") or ():
            path = error.get("path") if isinstance(error, dict) else None
            position = None
            if isinstance(path, list) and path:
                position = request.aliases.get(path[0])
            if position is None or not isinstance(path, list):
                # No alias to tell whose it is: reported once, as its own request would.
                errors[0].append(error)
            else:
                errors[position].append({**error, "path": ["_entities", *path[1:]]})
        for (fetch, _, targets), part, own in zip(ready, parts, errors, strict=True):
            self._merge_entities(fetch, targets, part, own)

    def _subgraph_error(self, fetch: Fetch, error: Any, path: Any) -> JSONObject:
        if not isinstance(error, dict):
            error = {"message": str(error)}
        out: JSONObject = {"message": error.get("message", "subgraph error")}
        if path:
            out["path"] = path
        extensions = dict(error.get("extensions") or {})
        extensions.setdefault("serviceName", self.executor.traffic[fetch.graph].endpoint.name)
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
        traffic: Mapping[str, SubgraphTraffic],
        max_objects: int | None = None,
    ) -> None:
        # limits.max_response_objects: objects one request may receive from subgraphs.
        self.max_objects = max_objects
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
        ticket: Ticket | None = None,
    ) -> Execution:
        execution = Execution(self, variables, headers, observer, ticket=ticket)
        if plan.steps:
            await execution.run_steps(plan.steps)
        elif plan.root is not None:
            await execution.run(plan.root)
        return execution

    async def execute_event(
        self,
        plan: Plan,
        event: JSONObject,
        variables: Mapping[str, Any],
        headers: Mapping[str, str],
        observer: FetchObserver | None = None,
    ) -> Execution:
        """One event of a subscription: `event` (the subgraph's `next` payload) stands for
        the answer of the plan's root fetch, then the rest of the plan runs as for a query
        (entity fetches, @requires) with it as the root data."""
        execution = Execution(self, variables, headers, observer)
        root = subscription_fetch(plan)
        if execution.take_root(root, event) and len(plan.steps) > 1:
            await execution.run_steps(plan.steps, first_done=True)
        return execution


def subscription_fetch(plan: Plan) -> Fetch:
    """The root fetch of a subscription's plan: its first step (schedule() puts root fetches
    first, and a subscription has one root field, so one root fetch)."""
    node = plan.steps[0].node if plan.steps else None
    if not isinstance(node, FetchNode) or node.fetch.entity:
        raise ValueError("not a subscription plan: no root fetch comes first")
    return node.fetch
