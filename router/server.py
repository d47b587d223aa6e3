"""The router's HTTP endpoints: POST/GET /graphql, GraphiQL for browsers, GET /health.

`RouterEndpoints` reads the request (body size limit first), runs the edge's stages around
`Router.handle`, and turns refusals into GraphQL errors with Apollo's codes; an answer
with @defer parts streams as multipart (router/incremental.py). The stages
and their order come in from the composition root (router/bootstrap.py, from
router/edge/pipeline.py); a hot reloader, when given, polls for the app's lifetime.
Subscriptions (a WebSocket upgrade, or an Accept header asking for SSE or multipart) go to
router/subscriptions/.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from coursegraph.body_limit import BodyTooLarge, read_body
from coursegraph.collector import young_generation
from coursegraph.wire import DirectPost
from router.client_address import ClientAddresses
from router.direct import DirectRoute
from router.exposure import exposes_schema
from router.graphiql import ASSETS_DIR, ASSETS_PATH, graphiql_html
from router.incremental import MULTIPART_CONTENT_TYPE, accepts_incremental, multipart
from router.override import OVERRIDE_HEADER
from router.reload import Reloader
from router.service import MethodNotAllowed, Router
from router.stage import Edge, EdgeRefusal, Exchange
from router.subscriptions.http import serve_http, streaming_mode
from router.subscriptions.stream import RELOADED, Serving, Streams
from router.subscriptions.websocket import Session

GRAPHQL_JSON = "application/json"
# A request carrying `X-Coursegraph-Plan: 1` asks for the query plan in `extensions`
# (debug.query_plan_header decides whether it is answered).
PLAN_HEADER = "x-coursegraph-plan"
log = logging.getLogger("router")
# The router's young generation (coursegraph/collector.py): with 50 TestQueries in flight,
# the 20,000 default still ran a young collection every ~55 requests, each scanning what
# the requests in flight hold (~9 ms: 8 % of the CPU, bench/kernel.py-style load in
# process, docs/benchmarks-log.md). A request's garbage is freed by reference counting, so at
# 100,000 net allocations collections (of cycles) come rarely; memory is unchanged.
YOUNG_THRESHOLD = 100_000


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=GRAPHQL_JSON)


def _streams(accept: str) -> bool:
    """Whether the router answers a POST with this Accept as a stream (a subscription over
    SSE or multipart, or `@defer`'s incremental delivery)."""
    return streaming_mode(accept) is not None or accepts_incremental(accept)


def _error(message: str, status: int, code: str = "BAD_REQUEST") -> Response:
    return _json({"errors": [{"message": message, "extensions": {"code": code}}]}, status)


class RouterEndpoints:
    """The HTTP side of one router. Everything it reads from the config is read here, once:
    the edge sections apply from start-up (a reload swaps only the schema state)."""

    def __init__(self, router: Router, edge: Edge, reloader: Reloader | None = None) -> None:
        config, settings = router.config, router.settings
        self.router = router
        self.edge = edge
        self.reloader = reloader
        # Built once: the page depends only on settings, and a reload builds a new app.
        self.graphiql = (
            graphiql_html(
                settings,
                plan_panel=router.state.plan_on_request,
                subscriptions=config.subscriptions.enabled,
            )
            if config.graphiql.enabled and exposes_schema(settings)
            else None
        )
        # Outside production, people who open the router's address land in GraphiQL.
        self.home_redirects = self.graphiql is not None and not settings.is_production
        self.forwarded = tuple(h.lower() for h in config.headers.forward)
        self.request_id_header = config.headers.request_id.lower()
        self.max_body = config.limits.max_body_bytes
        self.clients = ClientAddresses(config.headers.trusted_proxies)
        self.admits = bool(edge.operation_hooks)
        subscriptions = config.subscriptions
        self.streams = Streams(subscriptions.max_per_client)
        self.serving = (
            Serving(
                router,
                edge,
                self.streams,
                subscriptions,
                self.clients.of,
                self.subgraph_headers,
                self.request_id_header,
            )
            if subscriptions.enabled
            else None
        )
        if self.serving is not None:
            # A new schema: open streams were planned on the old one (clients resubscribe).
            router.swap_listeners.append(partial(self.streams.stop_all, RELOADED))

    def app(self) -> Starlette:
        edge_middleware = self.edge.middleware()
        app = Starlette(
            routes=self.routes(),
            middleware=[
                # The edge's ASGI layers (CORS), outermost first, in the pipeline's order.
                *edge_middleware,
                # Innermost: the hot endpoint without routing (router/direct.py).
                Middleware(DirectRoute, method="POST", path="/graphql", endpoint=self.graphql_post),
            ],
            lifespan=self.lifespan,
        )
        # The server protocol answers plain POSTs without ASGI (coursegraph/wire.py),
        # when it knows what the edge's middleware would do to them.
        if all(layer.cls is CORSMiddleware for layer in edge_middleware):
            app.state.direct_post = DirectPost(
                self.graphql_body, self.max_body, cors=bool(edge_middleware), streams=_streams
            )
        return app

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/graphql", self.graphql_post, methods=["POST"]),
            Route("/graphql", self.graphql_get, methods=["GET"]),
            *([WebSocketRoute("/graphql", self.graphql_ws)] if self.serving else []),
            Route("/health", self.health, methods=["GET"]),
            *([Route("/", self.home, methods=["GET"])] if self.home_redirects else []),
            *self.edge.routes(),
            Mount(ASSETS_PATH, app=StaticFiles(directory=ASSETS_DIR), name="graphiql-assets"),
        ]

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await self.edge.start()
        reloader = self.reloader
        watcher = asyncio.create_task(reloader.run()) if reloader is not None else None
        restore = self._end_streams_on_exit_signal()
        try:
            with young_generation(YOUNG_THRESHOLD):
                yield
        finally:
            restore()
            self.streams.shut_down()
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            await self.router.close()
            await self.edge.close()

    def _end_streams_on_exit_signal(self) -> Callable[[], None]:
        """uvicorn waits for open responses before it shuts the app down, and a stream
        never ends by itself: on SIGINT/SIGTERM the streams end first (SSE and multipart
        with an error event, WebSockets with 1001), then uvicorn's own handler runs.
        Signals reach only the main thread (a served process, not a test's server thread).
        Returns what puts the previous handlers back."""
        if self.serving is None or threading.current_thread() is not threading.main_thread():
            return lambda: None
        loop = asyncio.get_running_loop()
        streams = self.streams
        previous: dict[int, Any] = {}

        def chained(signum: int, frame: Any) -> None:
            loop.call_soon_threadsafe(streams.shut_down)
            handler = previous.get(signum)
            if callable(handler):
                handler(signum, frame)

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.getsignal(sig)
            signal.signal(sig, chained)

        def restore() -> None:
            for sig, handler in previous.items():
                if signal.getsignal(sig) is chained:
                    signal.signal(sig, handler)

        return restore

    async def graphql_ws(self, websocket: WebSocket) -> None:
        assert self.serving is not None
        await Session(self.serving, websocket).run()

    async def graphql_post(self, request: Request) -> Response:
        max_body = self.max_body
        try:
            raw = await read_body(request, max_body)
        except BodyTooLarge:
            return _error(
                f"The request body is larger than {max_body} bytes.", 413, "PAYLOAD_TOO_LARGE"
            )
        return await self.graphql_body(request, raw)

    async def graphql_body(self, request: Request, raw: bytes) -> Response:
        """POST /graphql once its body is read (within the limit)."""
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return _error("The request body is not valid JSON.", 400)
        if not isinstance(payload, dict):
            return _error("The request body must be a JSON object.", 400)
        mode = streaming_mode(request.headers.get("accept", ""))
        if mode is not None and self.serving is not None:
            return await serve_http(
                self.serving,
                request,
                mode,
                payload.get("query"),
                payload.get("operationName"),
                payload.get("variables"),
                payload.get("extensions"),
                allow_mutation=True,
            )
        return await self.answer(
            request,
            payload.get("query"),
            payload.get("operationName"),
            payload.get("variables"),
            payload.get("extensions"),
            allow_mutation=True,
        )

    async def graphql_get(self, request: Request) -> Response:
        params = request.query_params
        accept = request.headers.get("accept", "")
        if "query" not in params and "text/html" in accept:
            if self.graphiql is not None:
                return HTMLResponse(self.graphiql)
            return _error("GraphiQL is disabled.", 404)
        decoded: dict[str, Any] = {}
        for field in ("variables", "extensions"):
            if params.get(field):
                try:
                    decoded[field] = orjson.loads(params[field])
                except orjson.JSONDecodeError:
                    return _error(f"`{field}` is not valid JSON.", 400)
        mode = streaming_mode(accept)
        if mode is not None and self.serving is not None:
            return await serve_http(
                self.serving,
                request,
                mode,
                params.get("query"),
                params.get("operationName") or None,
                decoded.get("variables"),
                decoded.get("extensions"),
                allow_mutation=False,
            )
        return await self.answer(
            request,
            params.get("query"),
            params.get("operationName") or None,
            decoded.get("variables"),
            decoded.get("extensions"),
            allow_mutation=False,
        )

    async def health(self, request: Request) -> Response:
        # The pid tells which worker process answered (`router --workers N`).
        return _json({"status": "ok", "pid": os.getpid()})

    async def home(self, request: Request) -> Response:
        # Relative, so it also works when the router sits under a path prefix.
        return RedirectResponse("graphql", status_code=307)

    async def answer(
        self,
        request: Request,
        query: Any,
        name: Any,
        variables: Any,
        extensions: Any,
        allow_mutation: bool,
    ) -> Response:
        edge = self.edge
        request_id_header = self.request_id_header
        client_address = self.clients.of(request)
        exchange = Exchange(request, query, name, extensions, client_address)
        headers = self.subgraph_headers(request, client_address)
        status = 200
        errors: list[Any] | None = None
        try:
            for hook in edge.request_hooks:
                await hook(exchange)
            result = await self.router.handle(
                exchange.query,
                exchange.operation_name,
                variables,
                headers,
                allow_mutation=allow_mutation,
                admit=partial(edge.admit, exchange) if self.admits else None,
                observer=edge.observer,
                viewer=exchange.viewer,
                wants_plan=request.headers.get(PLAN_HEADER) == "1",
                override_labels=request.headers.get(OVERRIDE_HEADER),
                incremental=accepts_incremental(request.headers.get("accept", "")),
                responses=edge.responses,
            )
            status = result.status
            errors = result.body.get("errors")
            exchange.cost = result.cost
            if exchange.operation_name is None:
                exchange.operation_name = result.operation_name
            response: Response
            if result.parts is not None:
                # @defer: the primary part now, each deferred part as it is done.
                response = StreamingResponse(
                    multipart(result.body, result.parts), media_type=MULTIPART_CONTENT_TYPE
                )
            elif result.raw is not None:
                response = Response(result.raw, status_code=status, media_type=GRAPHQL_JSON)
            else:
                response = _json(result.body, status)
        except EdgeRefusal as refusal:
            status = refusal.status
            body = refusal.body()
            errors = body["errors"]
            response = _json(body, status)
            response.headers.update(refusal.headers)
        except MethodNotAllowed:
            status = 405
            response = _error("Mutations cannot be sent over GET; use POST.", 405)
            response.headers["allow"] = "POST"
        except Exception:
            # A router bug must not leak internals: log it, answer a GraphQL error.
            log.exception("request %s failed", headers[request_id_header])
            status = 500
            response = _error("Internal server error.", 500, "INTERNAL_SERVER_ERROR")
        finally:
            for response_hook in edge.response_hooks:
                response_hook(exchange, status, errors)
        response.headers[request_id_header] = headers[request_id_header]
        return response

    def subgraph_headers(
        self, request: HTTPConnection, client_address: str | None
    ) -> dict[str, str]:
        headers = request.headers
        out = {name: headers[name] for name in self.forwarded if name in headers}
        request_id_header = self.request_id_header
        out[request_id_header] = headers.get(request_id_header) or uuid.uuid4().hex
        # Subgraphs believe this only on a signed router request; the client's own
        # x-forwarded-for is never passed on (router/client_address.py).
        out.pop("x-forwarded-for", None)
        if client_address is not None:
            out["x-forwarded-for"] = client_address
        return out
