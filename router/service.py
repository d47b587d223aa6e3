"""The router's request pipeline, independent of HTTP serving.

Order: prepare (cached parse + validate + operation checks) → coerce variables → cost →
admit (the edge's per-operation stages, e.g. rate limiting) → plan (cached per @skip/
@include/@defer variant) → for a public query, the whole answer the edge kept for an
identical request (router/stage.py `WholeResponses`), else → execute fetches (counting
the objects they return, the actual cost) → answer introspection locally → project into
the client's shape → with @defer, the deferred parts, run while the client reads them
(router/incremental.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import orjson
from graphql import OperationType, execute_sync

from coursegraph.identity import Viewer
from coursegraph.settings import Settings
from router.admission import Admission, Ticket
from router.checks import CheckFactory
from router.config import RouterConfig
from router.executor import COST_ACTUAL_TOO_EXPENSIVE, FetchObserver
from router.exposure import cost_extension
from router.http import SubgraphClient, router_signer
from router.incremental import deferred_parts
from router.planner.builder import PlanError
from router.prepared import OperationError, PlannedOperation, PreparedOperation
from router.projection import Projector, selects
from router.stage import Keeper, StoredResponse, WholeResponses
from router.state import SchemaState
from router.supergraph import Supergraph
from router.types import JSONObject


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: JSONObject
    # The executed operation's name, when it got as far as being prepared (telemetry).
    operation_name: str | None = None
    # (estimated, actual) cost of an executed operation (telemetry).
    cost: tuple[int, int] | None = None
    # With @defer, for a client that reads incremental responses: the payloads after
    # `body` (router/incremental.py), produced while the client reads them.
    parts: AsyncIterator[JSONObject] | None = None
    # The body already encoded (a whole answer kept by the edge): sent as it is.
    raw: bytes | None = None


@dataclass(frozen=True, slots=True)
class Admitted:
    """An operation the pipeline let through, planned on the state it was prepared on."""

    state: SchemaState
    prepared: PreparedOperation
    planned: PlannedOperation
    # The estimated cost (telemetry, the cost extension).
    cost: int
    # The progressive override labels on for this request (they changed the plan).
    labels: frozenset[str] = frozenset()


# The edge's per-operation stages, given the prepared operation and its estimated cost.
Admit = Callable[[PreparedOperation, int], Awaitable[None]]


class MethodNotAllowed(Exception):
    """A mutation sent over GET."""


class Router:
    """Serves requests against the current `SchemaState`; `swap` replaces it.

    `config` is the start-up configuration: the edge settings the HTTP app reads once
    (headers, auth, GraphiQL). The state carries the configuration it was built with.
    `settings` are the deployment's (the edge stages and the HTTP endpoints read them
    here too); `checks` makes each state's operation checks (router/edge/pipeline.py).
    """

    def __init__(
        self,
        supergraph: Supergraph,
        config: RouterConfig,
        settings: Settings,
        checks: CheckFactory,
    ) -> None:
        self.config = config
        self.settings = settings
        self.checks = checks
        self.signer = router_signer(settings, config.auth.sign_subgraph_requests)
        self.state = self._state(supergraph, config, reuse=())
        self.cost_extension = cost_extension(config, settings)
        # Operations executed at once (router/admission.py); one router-wide queue, across
        # reloads.
        self.admission = Admission(config.limits.operations_in_flight)
        # Called after each swap: open subscriptions end there, their plans are the old
        # schema's (router/subscriptions/registry.py).
        self.swap_listeners: list[Callable[[], None]] = []

    def build_state(self, supergraph: Supergraph, config: RouterConfig) -> SchemaState:
        """A state for a new supergraph, reusing the clients of unchanged subgraphs. Pure
        CPU work on immutable inputs, so a reload runs it off the event loop."""
        return self._state(supergraph, config, reuse=self.state.clients)

    def _state(
        self, supergraph: Supergraph, config: RouterConfig, reuse: Iterable[SubgraphClient]
    ) -> SchemaState:
        return SchemaState.build(
            supergraph,
            config,
            settings=self.settings,
            signer=self.signer,
            checks=self.checks,
            reuse=reuse,
        )

    def swap(self, state: SchemaState) -> None:
        """Serve `state` from now on. Requests in flight keep the state they read; clients
        the new state does not use stop pooling and close as those requests finish."""
        old, self.state = self.state, state
        self.admission.set_limit(state.config.limits.operations_in_flight)
        kept = {id(client) for client in state.clients}
        for client in old.clients:
            if id(client) not in kept:
                client.retire()
        for listener in self.swap_listeners:
            listener()

    async def close(self) -> None:
        await self.state.clients.close()

    async def handle(
        self,
        query: Any,
        operation_name: Any,
        variables: Any,
        headers: Mapping[str, str],
        *,
        allow_mutation: bool = True,
        admit: Admit | None = None,
        observer: FetchObserver | None = None,
        viewer: Viewer | None = None,
        wants_plan: bool = False,
        override_labels: str | None = None,
        incremental: bool = False,
        responses: WholeResponses | None = None,
    ) -> Response:
        """`admit` runs the edge's per-operation stages (rate limiting) once the operation
        is prepared; it refuses by raising EdgeRefusal. `observer` sees every fetch. `viewer`
        (the verified claims) is whom the operation checks restrict fields for.
        `wants_plan` (the client sent `X-Coursegraph-Plan: 1`) adds the query plan where the
        state allows it; `override_labels` is the client's X-Coursegraph-Override-Labels.
        `incremental` (the client accepts multipart incremental responses) delivers @defer
        fragments as parts of their own; otherwise the answer comes whole. `responses`
        (the edge's whole-response cache) may answer a public query from what it kept."""
        admitted = await self.admitted(
            query,
            operation_name,
            variables,
            allow_mutation=allow_mutation,
            admit=admit,
            viewer=viewer,
            override_labels=override_labels,
            incremental=incremental,
        )
        if isinstance(admitted, Response):
            return admitted
        if admitted.prepared.kind is OperationType.SUBSCRIPTION:
            # Apollo Router's answer to a subscription without a streaming Accept header.
            return _error_response(
                406,
                "Subscriptions need a streaming response: send `Accept: multipart/mixed;"
                'subscriptionSpec="1.0"` or `Accept: text/event-stream`, or use a WebSocket '
                "(graphql-transport-ws).",
                "INVALID_ACCEPT_HEADER",
            )
        if responses is None or not _keepable(admitted, wants_plan):
            return await self.execute(admitted, variables, headers, observer, wants_plan)
        request = (
            admitted.state.digest,
            query,
            operation_name,
            variables or {},
            sorted(admitted.labels),
        )
        found = await responses.lookup(request, headers)
        if isinstance(found, StoredResponse):
            name = admitted.prepared.operation.name
            return Response(
                200,
                {},
                name.value if name is not None else None,
                (admitted.cost, found.objects),
                raw=found.body,
            )
        keeper: Keeper | None = found
        response = await self.execute(
            admitted, variables, headers, observer if keeper is None else keeper, wants_plan
        )
        if keeper is None or "errors" in response.body or response.cost is None:
            return response
        raw = orjson.dumps(response.body)
        await keeper.keep(raw, response.cost[1])
        return replace(response, raw=raw)

    async def admitted(
        self,
        query: Any,
        operation_name: Any,
        variables: Any,
        *,
        allow_mutation: bool = True,
        admit: Admit | None = None,
        viewer: Viewer | None = None,
        override_labels: str | None = None,
        incremental: bool = False,
    ) -> Admitted | Response:
        """The operation prepared, admitted by the edge and planned for `viewer`, or the
        error response that refuses it. Subscriptions go on from here to
        router/subscriptions/, everything else to `execute`."""
        if not isinstance(query, str) or not query.strip():
            return _bad_request("GraphQL operations must contain a non-empty `query`.")
        if operation_name is not None and not isinstance(operation_name, str):
            return _bad_request("`operationName` must be a string.")
        if variables is not None and not isinstance(variables, dict):
            return _bad_request("`variables` must be an object.")
        # The one read of the current state: a reload swapping it mid-request changes nothing
        # for this request.
        state = self.state
        operations = state.operations
        try:
            prepared = operations.prepare(query, operation_name)
            if not allow_mutation and prepared.kind is OperationType.MUTATION:
                raise MethodNotAllowed
            coerced = operations.coerce_variables(prepared, variables)
            cost = operations.cost(prepared, coerced)
            if admit is not None:
                await admit(prepared, cost)
            labels = state.override.active(override_labels)
            planned = operations.planned(prepared, coerced, viewer, labels, incremental)
        except OperationError as exc:
            return Response(exc.status, {"errors": exc.errors})
        except PlanError as exc:
            return _error_response(500, str(exc), "QUERY_PLANNING_FAILED")
        return Admitted(state, prepared, planned, cost, labels)

    async def execute(
        self,
        admitted: Admitted,
        variables: Any,
        headers: Mapping[str, str],
        observer: FetchObserver | None = None,
        wants_plan: bool = False,
    ) -> Response:
        """Run a query or mutation that `admitted` let through, once it has a place among
        the operations in flight (router/admission.py)."""
        admission = self.admission
        if admission.limit is None:
            return await self._execute(admitted, variables, headers, observer, wants_plan, None)
        ticket = await admission.enter()
        try:
            return await self._execute(admitted, variables, headers, observer, wants_plan, ticket)
        finally:
            ticket.close()

    async def _execute(
        self,
        admitted: Admitted,
        variables: Any,
        headers: Mapping[str, str],
        observer: FetchObserver | None,
        wants_plan: bool,
        ticket: Ticket | None,
    ) -> Response:
        state, prepared, planned, cost = (
            admitted.state,
            admitted.prepared,
            admitted.planned,
            admitted.cost,
        )
        execution = await state.executor.execute(
            planned.plan, variables or {}, headers, observer, ticket
        )
        name = prepared.operation.name
        operation = name.value if name is not None else None
        if execution.too_large:
            limit = state.config.limits.max_response_objects
            message = (
                f"The subgraphs returned more than {limit} objects for this operation, "
                "so it was stopped; ask for fewer items (smaller `first`) or fewer nested lists."
            )
            stopped: JSONObject = {
                "errors": [{"message": message, "extensions": {"code": COST_ACTUAL_TOO_EXPENSIVE}}],
                "data": None,
            }
            if self.cost_extension:
                stopped["extensions"] = {"cost": {"estimated": cost, "actual": execution.objects}}
            return Response(200, stopped, operation, (cost, execution.objects))
        if prepared.introspection is not None:
            result = execute_sync(
                state.api_schema, prepared.introspection, variable_values=variables
            )
            if result.data:
                execution.data.update(result.data)
            for error in result.errors or ():
                execution.errors.append(dict(error.formatted))
        deferring = planned.deferred is not None
        for restricted in planned.restricted:
            refused = restricted.errors(execution.data)
            if deferring:
                # Refused fields of deferred fragments are reported with their part.
                refused = [e for e in refused if selects(planned.projection, e["path"])]
            execution.errors.extend(refused)
        errors = execution.errors
        data = Projector(errors).run(planned.projection, execution.data)
        body: JSONObject = {"data": data}
        if errors:
            body = {"errors": errors, "data": data}
        extensions: JSONObject = {}
        if state.config.debug.expose_query_plan or (wants_plan and state.plan_on_request):
            plan = planned.plan
            extensions["queryPlan"] = plan.to_json()
            extensions["queryPlanText"] = plan.to_text()
        if self.cost_extension:
            extensions["cost"] = {"estimated": cost, "actual": execution.objects}
        if extensions:
            body["extensions"] = extensions
        if deferring:
            body["hasNext"] = True
            parts = deferred_parts(execution, planned, data)
            return Response(200, body, operation, (cost, execution.objects), parts)
        return Response(200, body, operation, (cost, execution.objects))


def _keepable(admitted: Admitted, wants_plan: bool) -> bool:
    """Whether a whole answer may be kept for this request or served to it: a query whose
    fields no check took out for this viewer (so nothing a restriction removes can leak
    from a kept answer, and every viewer it is served to sees all of it), answered in one
    JSON body, without the plan a debugging client asked for."""
    planned = admitted.planned
    return (
        admitted.prepared.kind is OperationType.QUERY
        and not planned.restricted
        and planned.deferred is None
        and not (wants_plan and admitted.state.plan_on_request)
    )


def _error_response(status: int, message: str, code: str) -> Response:
    return Response(status, {"errors": [{"message": message, "extensions": {"code": code}}]})


def _bad_request(message: str) -> Response:
    return _error_response(400, message, "BAD_REQUEST")
