"""One client subscription: admitted and planned like any operation, its root fetch opened
upstream, each event executed as the root data of the rest of the plan.

`subscribe()` is the one entry the client protocols call. It answers a `Response` when
there is nothing to stream: a refusal (validation, limits, rate limit, authorization of the
root field, the per-client cap), or, for a query or mutation sent over a streaming
protocol, its one result. Otherwise it answers a `Stream`, which the protocol serves with
`serve(emit)` until it ends; how it ended (`Ending`) is what the protocol tells the client.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from graphql import OperationType
from starlette.requests import HTTPConnection

from coursegraph.identity import Viewer
from router.config import SubscriptionsConfig
from router.executor import COST_ACTUAL_TOO_EXPENSIVE, FetchObserver, subscription_fetch
from router.override import OVERRIDE_HEADER
from router.projection import Projector
from router.service import Admit, Admitted, Response, Router
from router.stage import Edge, EdgeRefusal, Exchange
from router.subscriptions.upstream import Upstream, UpstreamError, UpstreamPool
from router.types import JSONObject

Emit = Callable[[JSONObject], Awaitable[None]]
log = logging.getLogger("router")


def _error(message: str, code: str) -> JSONObject:
    return {"message": message, "extensions": {"code": code}}


@dataclass(frozen=True, slots=True)
class Ending:
    """How a stream ended. No errors: the subgraph completed it. `refused`: before any
    event (WebSocket sends an `error` message, not `next` + `complete`). `close_code`: the
    whole WebSocket connection closes with it (token expiry, shutdown)."""

    errors: tuple[JSONObject, ...] = ()
    refused: bool = False
    close_code: int | None = None
    close_reason: str = ""


COMPLETED = Ending()
EXPIRED = Ending(
    (
        _error(
            "The access token has expired; subscribe again with a fresh token.", "UNAUTHENTICATED"
        ),
    ),
    close_code=4403,
    close_reason="Forbidden: token expired",
)
SHUTDOWN = Ending(
    (_error("The router is shutting down; subscribe again.", "SERVICE_UNAVAILABLE"),),
    close_code=1001,
    close_reason="router shutting down",
)
INTERNAL_ERROR = Ending((_error("Internal server error.", "INTERNAL_SERVER_ERROR"),))
# Apollo Router's code: its clients know to subscribe again.
RELOADED = Ending(
    (
        _error(
            "The subscription was closed because the router loaded a new schema; subscribe again.",
            "SUBSCRIPTION_SCHEMA_RELOAD",
        ),
    )
)


class Stream:
    """A subscription being served; `stop(ending)` ends it from outside (registry.py)."""

    def __init__(
        self,
        router: Router,
        admitted: Admitted,
        variables: JSONObject,
        headers: Mapping[str, str],
        viewer: Viewer | None,
        observer: FetchObserver | None,
        client: tuple[str | None, str | None],
        upstreams: UpstreamPool,
    ) -> None:
        self.router = router
        self.upstreams = upstreams
        self.admitted = admitted
        self.variables = variables
        self.headers = headers
        self.viewer = viewer
        self.observer = observer
        # Who holds it, for the per-client cap: (client address, user id).
        self.client = client
        self._task: asyncio.Task[Ending] | None = None
        self._stopped: Ending | None = None

    def stop(self, ending: Ending) -> None:
        if self._stopped is None:
            self._stopped = ending
            if self._task is not None:
                self._task.cancel()

    async def serve(self, emit: Emit) -> Ending:
        """Run until the subgraph completes, the stream fails, or `stop()`; the Ending says
        which. Cancelling the caller (the client went away) cancels the stream."""
        if self._stopped is not None:
            return self._stopped
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run(emit))
        expiry = None
        expires_at = self.viewer.expires_at if self.viewer is not None else None
        if expires_at is not None:
            expiry = loop.call_later(max(0.0, expires_at - time.time()), self.stop, EXPIRED)
        try:
            return await self._task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self._stopped is not None and (current is None or not current.cancelling()):
                return self._stopped
            raise
        finally:
            if expiry is not None:
                expiry.cancel()

    async def _run(self, emit: Emit) -> Ending:
        state = self.admitted.state
        root = subscription_fetch(self.admitted.planned.plan)
        variables = {n: self.variables[n] for n in root.variable_names if n in self.variables}
        upstream = Upstream(
            self.upstreams,
            state.clients[root.graph].endpoint,
            self.router.signer,
            self.headers,
            state.config.headers.request_id.lower(),
            state.config.subscriptions.max_per_upstream_connection,
            root.document,
            variables,
        )
        try:
            await upstream.open()
            while (event := await upstream.next()) is not None:
                await emit(await self.result(event))
        except UpstreamError as exc:
            return Ending(tuple(exc.errors), refused=exc.refused)
        except Exception:
            # A router bug must not leak internals: log it, end the stream with an error.
            log.exception("subscription failed (request %s)", self.headers.get("x-request-id"))
            return INTERNAL_ERROR
        finally:
            await upstream.close()
        return COMPLETED

    async def result(self, event: JSONObject) -> JSONObject:
        """The client's result for one event: the rest of the plan run on it, projected."""
        admitted = self.admitted
        state, planned = admitted.state, admitted.planned
        execution = await state.executor.execute_event(
            planned.plan, event, self.variables, self.headers, self.observer
        )
        if execution.too_large:
            limit = state.config.limits.max_response_objects
            message = f"The subgraphs returned more than {limit} objects for this event."
            return {"data": None, "errors": [_error(message, COST_ACTUAL_TOO_EXPENSIVE)]}
        for restricted in planned.restricted:
            execution.errors.extend(restricted.errors(execution.data))
        errors = execution.errors
        data = Projector(errors).run(planned.projection, execution.data)
        return {"errors": errors, "data": data} if errors else {"data": data}


class Streams:
    """The open streams of one router process: the per-client cap, ending them all
    (shutdown, reload), and the subgraph sockets they share (upstream.py)."""

    def __init__(self, max_per_client: int) -> None:
        self.max_per_client = max_per_client
        self.upstreams = UpstreamPool()
        self._open: dict[tuple[str | None, str | None], set[Stream]] = {}
        # Set once shutting down: new subscriptions are refused with it.
        self.closing: Ending | None = None

    def __len__(self) -> int:
        return sum(len(streams) for streams in self._open.values())

    def add(self, stream: Stream) -> Response | None:
        """Hold `stream`, or the response that refuses it."""
        if self.closing is not None:
            return Response(503, {"errors": list(self.closing.errors)})
        held = self._open.setdefault(stream.client, set())
        if len(held) >= self.max_per_client:
            message = (
                f"This client already has {self.max_per_client} open subscriptions; "
                "close one before opening another."
            )
            return Response(429, {"errors": [_error(message, "RATE_LIMITED")]})
        held.add(stream)
        return None

    def remove(self, stream: Stream) -> None:
        held = self._open.get(stream.client)
        if held is not None:
            held.discard(stream)
            if not held:
                del self._open[stream.client]

    def stop_all(self, ending: Ending) -> None:
        for held in list(self._open.values()):
            for stream in list(held):
                stream.stop(ending)

    def shut_down(self) -> None:
        self.closing = SHUTDOWN
        self.stop_all(SHUTDOWN)


async def subscribe(
    router: Router,
    streams: Streams,
    *,
    query: Any,
    operation_name: Any,
    variables: Any,
    headers: Mapping[str, str],
    allow_mutation: bool,
    admit: Admit | None,
    viewer: Viewer | None,
    observer: FetchObserver | None,
    client_address: str | None,
    incremental: bool = False,
    override_labels: str | None = None,
) -> Stream | Response:
    """A stream for a subscription operation; a Response for anything else (see above), with
    its @defer parts when `incremental`. A returned Stream is held in `streams` until
    `streams.remove()`."""
    admitted = await router.admitted(
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
    if admitted.prepared.kind is not OperationType.SUBSCRIPTION:
        return await router.execute(admitted, variables, headers, observer)
    planned = admitted.planned
    if not planned.plan.steps:
        # Authorization took the root field out: nothing to subscribe to.
        errors: list[JSONObject] = []
        for restricted in planned.restricted:
            errors.extend(restricted.errors({}))
        code = errors[0]["extensions"]["code"] if errors else "FORBIDDEN"
        return Response(401 if code == "UNAUTHENTICATED" else 403, {"errors": errors})
    stream = Stream(
        router,
        admitted,
        variables or {},
        headers,
        viewer,
        observer,
        (client_address, viewer.id if viewer is not None else None),
        streams.upstreams,
    )
    refused = streams.add(stream)
    return refused if refused is not None else stream


@dataclass(frozen=True, slots=True)
class Serving:
    """What the client protocols share, handed over by the HTTP endpoints (server.py)."""

    router: Router
    edge: Edge
    streams: Streams
    config: SubscriptionsConfig
    # The client's address as trusted proxies report it (router/client_address.py).
    client_address: Callable[[HTTPConnection], str | None]
    # The headers forwarded to subgraphs for a request from that address.
    subgraph_headers: Callable[[HTTPConnection, str | None], dict[str, str]]
    # Where those headers carry the request id, echoed to the client (headers.request_id).
    request_id_header: str

    async def open(
        self,
        exchange: Exchange,
        variables: Any,
        headers: Mapping[str, str],
        allow_mutation: bool,
        incremental: bool = False,
    ) -> Stream | Response:
        """Run the edge's request stages on `exchange`, then `subscribe()`; an edge refusal
        becomes its error response."""
        edge = self.edge
        try:
            for hook in edge.request_hooks:
                await hook(exchange)
            return await subscribe(
                self.router,
                self.streams,
                query=exchange.query,
                operation_name=exchange.operation_name,
                variables=variables,
                headers=headers,
                allow_mutation=allow_mutation,
                admit=partial(edge.admit, exchange) if edge.operation_hooks else None,
                viewer=exchange.viewer,
                observer=edge.observer,
                client_address=exchange.client_address,
                incremental=incremental,
                # As for queries: the router's state decides whether the header counts.
                override_labels=exchange.request.headers.get(OVERRIDE_HEADER),
            )
        except EdgeRefusal as refusal:
            return Response(refusal.status, refusal.body())

    def answered(self, exchange: Exchange, status: int, errors: list[Any] | None) -> None:
        """The edge's response stages, once the client has its answer (or its stream)."""
        for hook in self.edge.response_hooks:
            hook(exchange, status, errors)
