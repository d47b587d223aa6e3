"""The edge's plug point in the core: what a stage is, the request it sees, and the ordered
stages the server runs (`Edge`). The stages themselves live in `router/edge/`, and
`router/edge/pipeline.py` alone decides which run and in which order.

A stage is an object with the hooks it needs:

- `middleware()`: ASGI layers around the whole app (CORS answers preflights there);
- `routes()`: extra HTTP routes (telemetry's /metrics);
- `on_request(exchange)`: once per GraphQL request, before the operation is parsed (over
  a WebSocket: once per `subscribe` message);
- `on_connect(exchange)`: once per WebSocket connection, at `connection_init` (its token,
  verified before any operation; the exchange has no query);
- `on_operation(exchange, prepared, cost)`: after the operation is prepared (parsed,
  validated, limits checked, all cached) and its variables coerced, before planning;
- `on_response(exchange, status, errors)`: after the answer is built, refusals included;
- `start()`: at start-up, in the app's lifespan (background listeners, e.g. the response
  cache's event subscription);
- `close()`: at shutdown (Redis connections, the trace exporter).

A hook refuses the request by raising `EdgeRefusal`. The pipeline calls only the hooks a
stage overrides, so a stage costs nothing in the phases it does not take part in.

Besides the stages, the edge may hand the core a whole-response cache (`WholeResponses`,
router/edge/whole.py): asked once a query is admitted and planned, it answers with the
bytes kept for an identical request, or watches this one's fetches to keep its answer.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.middleware import Middleware
from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute

from coursegraph.identity import Viewer
from router.executor import FetchObserver
from router.prepared import PreparedOperation


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """A whole answer the edge kept: the JSON sent, and the objects the subgraphs returned
    for it (its actual cost, for telemetry)."""

    body: bytes
    objects: int


class Keeper(FetchObserver, Protocol):
    """One request on its way into the whole-response cache: its fetches go through it, and
    it keeps the answer when they all allowed that."""

    async def keep(self, body: bytes, objects: int) -> None: ...


class WholeResponses(Protocol):
    async def lookup(
        self, request: tuple[Any, ...], headers: Mapping[str, str]
    ) -> StoredResponse | Keeper | None:
        """The answer kept for `request` (what makes answers differ: schema state,
        operation, variables, override labels) sent with `headers` (the subgraphs'), or the
        keeper of this one; None when nothing may be cached now."""
        ...


class EdgeRefusal(Exception):
    """The request is answered with this GraphQL error and status, and is not executed."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        *,
        extensions: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.extensions = extensions or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "errors": [
                {"message": self.message, "extensions": {"code": self.code, **self.extensions}}
            ]
        }


class Exchange:
    """One GraphQL request as it goes through the edge."""

    __slots__ = (
        "client_address",
        "cost",
        "extensions",
        "operation_name",
        "query",
        "request",
        "span",
        "started",
        "transport",
        "viewer",
    )

    def __init__(
        self,
        request: HTTPConnection,
        query: Any,
        operation_name: Any,
        extensions: Any,
        client_address: str | None = None,
        transport: str = "http",
    ) -> None:
        # The HTTP request; for a WebSocket, the upgrade request with the `Authorization`
        # the client sent in `connection_init` (router/subscriptions/websocket.py).
        self.request = request
        # "http" or "websocket".
        self.transport = transport
        # Who sent it (router/client_address.py): the peer, or what trusted proxies saw.
        self.client_address = client_address
        self.query = query
        self.operation_name = operation_name
        self.extensions = extensions
        self.started = time.perf_counter()
        # Verified claims of the bearer token, when one was sent (authentication).
        self.viewer: Viewer | None = None
        # The router span, when tracing is on.
        self.span: Any = None
        # (estimated, actual) cost, once the operation was executed.
        self.cost: tuple[int, int] | None = None


class Stage:
    """Base of edge stages; override the hooks the concern needs."""

    def middleware(self) -> list[Middleware]:
        return []

    def routes(self) -> list[BaseRoute]:
        return []

    async def on_request(self, exchange: Exchange) -> None:
        return None

    async def on_connect(self, exchange: Exchange) -> None:
        return None

    async def on_operation(
        self, exchange: Exchange, prepared: PreparedOperation, cost: int
    ) -> None:
        return None

    def on_response(self, exchange: Exchange, status: int, errors: list[Any] | None) -> None:
        return None

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


class Edge:
    """The stages in their order, and each hook's list of the stages that override it."""

    def __init__(
        self,
        stages: list[Stage],
        observer: FetchObserver | None = None,
        responses: WholeResponses | None = None,
    ) -> None:
        self.stages = stages
        self.request_hooks = [s.on_request for s in stages if _overrides(s, "on_request")]
        self.connect_hooks = [s.on_connect for s in stages if _overrides(s, "on_connect")]
        self.operation_hooks = [s.on_operation for s in stages if _overrides(s, "on_operation")]
        self.response_hooks = [s.on_response for s in stages if _overrides(s, "on_response")]
        # What sees every subgraph fetch (telemetry), when a stage does.
        self.observer = observer
        # Whole answers of public pages, with the response cache (router/edge/whole.py).
        self.responses = responses

    def middleware(self) -> list[Middleware]:
        # Starlette puts the first one outermost: the stages' order holds.
        return [layer for stage in self.stages for layer in stage.middleware()]

    def routes(self) -> list[BaseRoute]:
        return [route for stage in self.stages for route in stage.routes()]

    async def admit(self, exchange: Exchange, prepared: PreparedOperation, cost: int) -> None:
        for hook in self.operation_hooks:
            await hook(exchange, prepared, cost)

    async def start(self) -> None:
        for stage in self.stages:
            await stage.start()

    async def close(self) -> None:
        for stage in self.stages:
            await stage.close()


def _overrides(stage: Stage, hook: str) -> bool:
    return getattr(type(stage), hook) is not getattr(Stage, hook)
