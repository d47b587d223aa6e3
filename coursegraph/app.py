"""One Starlette app factory for every subgraph: GraphQL, health, auth wiring, lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, Protocol, TypeVar

import orjson
import strawberry
from cross_web import HTTPException
from graphql import GraphQLError
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketState
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, process_result
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage
from strawberry.types import ExecutionResult

from coursegraph.addresses import parse_ip
from coursegraph.body_limit import BodyLimit
from coursegraph.caller_gate import CALLER_SCOPE_KEY, CallerGate, CallerRefused, header_map
from coursegraph.collector import young_generation
from coursegraph.context import RequestContext
from coursegraph.db import Database
from coursegraph.errors import ErrorCode, Unauthenticated
from coursegraph.federation import format_errors
from coursegraph.identity import (
    JWKSSource,
    RevocationSource,
    TokenVerifier,
    Viewer,
    bearer_token,
    verifier_from_settings,
)
from coursegraph.log import configure_logging, get_logger
from coursegraph.service_auth import (
    MemoryNonceStore,
    NonceStore,
    RedisNonceStore,
    ServiceVerifier,
)
from coursegraph.settings import SERVICES, Settings
from coursegraph.wire import DirectPost

log = get_logger("coursegraph.app")

# Where the upgrade's verified viewer and token expiry wait for the connection's context.
VIEWER_SCOPE_KEY = "coursegraph.viewer"
# The request's headers as the gate read them (`header_map`), for the request's context.
_HEADERS_SCOPE_KEY = "coursegraph.headers"
# The connection's task that closes it when that token expires; cancelled when it ends.
_WATCHDOG_SCOPE_KEY = "coursegraph.token_watchdog"
# The close code of a subscription socket whose viewer's token expired (ws-contract).
TOKEN_EXPIRED_CLOSE = 4403


class Container(Protocol):
    """A subgraph's composition root: at least its database."""

    database: Database


C = TypeVar("C", bound=Container)
L = TypeVar("L")


@dataclass(frozen=True)
class SubgraphSpec(Generic[C, L]):
    name: str
    schema: strawberry.federation.Schema
    # Wires the subgraph's services once, at start-up; closes them at shutdown.
    bootstrap: Callable[[Settings], AbstractAsyncContextManager[C]]
    # Fresh DataLoaders for each request.
    loaders: Callable[[C], L]
    routes: Sequence[BaseRoute] = ()
    # Where verification keys come from; default: users' JWKS over HTTP.
    jwks_source: Callable[[C], JWKSSource] | None = None
    # Where token revocations come from; default: users' list over signed HTTP.
    revocation_source: Callable[[C], RevocationSource] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class EdgeAuth:
    tokens: TokenVerifier
    gate: CallerGate


class CappedTransportWS(BaseGraphQLTransportWSHandler[RequestContext[Any, Any], None]):
    """graphql-transport-ws, with the per-connection cap refused in the contract's words
    (Strawberry's own refusal carries no `extensions.code`)."""

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        cap = self.max_subscriptions_per_connection
        if (
            self.connection_acknowledged
            and cap is not None
            and message["id"] not in self.operations
            and len(self.operations) >= cap
        ):
            error = GraphQLError(
                f"At most {cap} subscriptions may be open on one connection.",
                extensions={"code": str(ErrorCode.RATE_LIMITED)},
            )
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [error.formatted]}
            )
            return
        await super().handle_subscribe(message)


class SubgraphGraphQL(GraphQL[RequestContext[Any, Any], None]):
    graphql_transport_ws_handler_class = CappedTransportWS

    def __init__(self, spec: SubgraphSpec[Any, Any], max_subscriptions: int) -> None:
        # No GraphiQL: browsers are not callers of a private subgraph. Subscriptions speak
        # graphql-transport-ws only (ws-contract): the legacy graphql-ws is refused (4406).
        super().__init__(
            spec.schema,
            graphql_ide=None,
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            max_subscriptions_per_connection=max_subscriptions,
        )
        self._spec = spec

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._upgrade(scope, receive, send)
            return
        try:
            response = await self._answer(Request(scope, receive))
        except ClientDisconnect:
            return  # gone before its body arrived: no one to answer
        await response(scope, receive, send)

    async def answer(self, app: Starlette, request: Request, body: bytes) -> Response:
        """A POST /graphql taken by the server protocol (coursegraph/wire.py), its body
        already received (within the limit) and readable through `request`: the answer
        that `__call__` gives, through the same code, to a request for no stream."""
        request.scope["app"] = app  # what Starlette's routing sets for `request.app`
        return await self._answer(request)

    async def _answer(self, request: Request) -> Response:
        """The gate, then the common call (`_post`), then anything else through
        Strawberry's view, as its ASGI entry point answers it."""
        # The gate runs before Strawberry reads anything: unsigned calls are never parsed.
        headers = header_map(request)
        gate: CallerGate = request.app.state.auth.gate
        try:
            caller, body = await gate.admit(request, headers)
        except CallerRefused as refused:
            return refused.response()
        scope = request.scope
        scope[CALLER_SCOPE_KEY] = caller
        scope[_HEADERS_SCOPE_KEY] = headers
        response = await self._post(request, headers, body)
        if response is not None:
            return response
        # Strawberry reads the body the gate read: a Request keeps it.
        try:
            return await self.run(request)
        except HTTPException as error:
            return PlainTextResponse(error.reason, status_code=error.status_code)

    def streams(self, accept: str) -> bool:
        """Whether Strawberry answers a request with this Accept header as a stream."""
        return self._get_stream_transport_from_headers({"accept": accept}) is not None

    async def _post(
        self, request: Request, headers: Mapping[str, str], body: bytes
    ) -> Response | None:
        """The common call (a POST of one JSON operation, answered as one JSON result)
        answered the way Strawberry's view does (`run`, `execute_single`), through the same
        hooks and `schema.execute`, without its per-request adapters, content-type parsing
        and second Request; None, with nothing done, for anything else (GET, batches,
        streamed answers, a body Strawberry refuses), which goes through Strawberry."""
        if request.method != "POST" or not _is_json(headers.get("content-type")):
            return None
        if self.streams(headers.get("accept", "")):
            return None
        try:
            data = self.decode_json(body)
        except ValueError:  # Strawberry answers 400 itself
            return None
        if not isinstance(data, dict):
            return None
        query, variables, extensions = (data.get(k) for k in ("query", "variables", "extensions"))
        if not (
            isinstance(query, str)
            and isinstance(variables, dict | None)
            and isinstance(extensions, dict | None)
        ):
            return None
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, response=sub_response)
        response: Response
        try:
            result = await self.execute_single(
                request=request,
                request_adapter=self.request_adapter_class(request),
                sub_response=sub_response,
                context=context,
                root_value=None,  # this view has none (`get_root_value`)
                request_data=GraphQLRequestData(
                    query=query,
                    variables=variables,
                    operation_name=data.get("operationName"),
                    extensions=extensions,
                    protocol="http",
                ),
            )
        except HTTPException as error:
            response = PlainTextResponse(error.reason, status_code=error.status_code)
        else:
            response_data = await self.process_result(request=request, result=result)
            if result.errors:
                self._handle_errors(result.errors, response_data)
            response = self.create_response(response_data=response_data, sub_response=sub_response)
        return response

    async def _upgrade(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A subscription socket: the signed upgrade and the viewer's token are checked
        before the handshake is accepted (403: caller refused; 401: a token that is
        present but not valid), as for HTTP; then Strawberry runs the protocol."""
        websocket = WebSocket(scope, receive, send)
        auth: EdgeAuth = websocket.app.state.auth
        try:
            scope[CALLER_SCOPE_KEY] = await auth.gate.admit_upgrade(websocket)
        except CallerRefused as refused:
            await _deny(websocket, refused)
            return
        token = bearer_token(websocket.headers.get("authorization"))
        if token:
            try:
                scope[VIEWER_SCOPE_KEY] = await auth.tokens.verify_until(token)
            except Unauthenticated as error:
                await _deny(websocket, CallerRefused(401, error.code, error.message))
                return
        try:
            await super().__call__(scope, receive, send)
        finally:
            watchdog: asyncio.Task[None] | None = scope.get(_WATCHDOG_SCOPE_KEY)
            if watchdog is not None:
                watchdog.cancel()

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        # Parse and validation errors never reach schema extensions; format all here.
        result.errors = format_errors(result.errors)
        return process_result(result)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> RequestContext[Any, Any]:
        state = request.app.state
        auth: EdgeAuth = state.auth
        # Read once by the gate for HTTP calls; a socket's upgrade keeps Starlette's.
        headers: Mapping[str, str] = request.scope.get(_HEADERS_SCOPE_KEY) or request.headers
        container = state.container
        context = RequestContext[Any, Any](
            request=request,
            container=container,
            loaders=self._spec.loaders(container),
            request_id=headers.get("x-request-id") or secrets.token_hex(8),
            response=response if isinstance(response, Response) else None,
        )
        # Set by the gate: every call that reaches GraphQL has a verified caller.
        context.service = request.scope[CALLER_SCOPE_KEY]
        context.client_address = client_address(request, context.service, headers)
        if isinstance(request, WebSocket):
            # Verified before the handshake was accepted (`_upgrade`). One context serves
            # the whole connection: each event renews its loaders (`renew_loaders`).
            context.loader_factory = lambda: self._spec.loaders(container)
            verified: tuple[Viewer, float] | None = request.scope.get(VIEWER_SCOPE_KEY)
            if verified is not None:
                context._viewer, valid_until = verified
                request.scope[_WATCHDOG_SCOPE_KEY] = asyncio.create_task(
                    _close_when_expired(request, valid_until)
                )
            return context
        await _verify_viewer(context, headers, auth)
        return context


async def _close_when_expired(websocket: WebSocket, valid_until: float) -> None:
    """Closes the socket with 4403 once the viewer's token is no longer accepted: a
    subscription never outlives the credential it was authorized with."""
    await asyncio.sleep(max(0.0, valid_until - time.time()))
    if websocket.application_state is WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):  # the client may be gone already
            await websocket.close(TOKEN_EXPIRED_CLOSE, "token expired")


async def _deny(websocket: WebSocket, refused: CallerRefused) -> None:
    """Refuses the handshake with the refusal's status and JSON body; a server without
    the denial-response extension can only answer 403."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(refused.response())
    else:
        await websocket.close()


def _is_json(content_type: str | None) -> bool:
    """A media type Strawberry's view reads as JSON (it accepts parameters: a charset)."""
    return (
        content_type is not None
        and content_type.partition(";")[0].strip().lower() == "application/json"
    )


async def signed_caller(request: Request) -> str:
    """The service that signed this plain-HTTP request; ServiceAuthError if none validly did."""
    auth: EdgeAuth = request.app.state.auth
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return await auth.gate.services.verify(
        request.method, path, request.headers, await request.body()
    )


def client_address(
    request: HTTPConnection, service: str | None, headers: Mapping[str, str]
) -> str | None:
    """The end client's IP address: the entry a signed router added to X-Forwarded-For
    (the rightmost; anything a client wrote left of it is not trusted), else the peer.
    `headers`: the request's."""
    if service == "router":
        added = parse_ip(headers.get("x-forwarded-for", "").rsplit(",", 1)[-1])
        if added is not None:
            return str(added)
    peer = parse_ip(request.client.host) if request.client else None
    return None if peer is None else str(peer)


async def _verify_viewer(
    context: RequestContext[Any, Any], headers: Mapping[str, str], auth: EdgeAuth
) -> None:
    try:
        token = bearer_token(headers.get("authorization"))
        viewer: Viewer | None = await auth.tokens.verify(token) if token else None
    except Unauthenticated as error:
        context._auth_error = error
        return
    context._viewer = viewer


def nonce_store(redis: Any | None) -> NonceStore:
    return RedisNonceStore(redis) if redis is not None else MemoryNonceStore()


def create_subgraph_app(spec: SubgraphSpec[C, L], settings: Settings) -> Starlette:
    """The ASGI app of one subgraph. Nothing is connected until the lifespan starts."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        configure_logging(settings)
        redis = None
        if settings.redis_url:
            from redis.asyncio import Redis

            redis = Redis.from_url(settings.redis_url)
        async with spec.bootstrap(settings) as container:
            # A local key source (users' own keys) is cheap to consult again at once.
            tokens = verifier_from_settings(
                settings,
                spec.jwks_source(container) if spec.jwks_source is not None else None,
                service=spec.name,
                revocations=(
                    spec.revocation_source(container)
                    if spec.revocation_source is not None
                    else None
                ),
                min_refresh_seconds=0.0 if spec.jwks_source is not None else None,
            )
            app.state.container = container
            app.state.auth = EdgeAuth(
                tokens=tokens,
                gate=CallerGate(
                    services=ServiceVerifier(
                        {name: settings.service_key(name) for name in SERVICES},
                        nonce_store(redis),
                        max_skew_seconds=settings.service_auth_max_skew_seconds,
                    ),
                    router_credential=(
                        settings.router_shared_secret.get_secret_value().encode()
                        if settings.router_shared_secret is not None
                        else None
                    ),
                ),
            )
            log.info("subgraph started", subgraph=spec.name)
            try:
                with young_generation():
                    yield
            finally:
                if redis is not None:
                    await redis.aclose()

    async def health(request: Request) -> Response:
        container: Container = request.app.state.container
        try:
            async with container.database.read() as session:
                await session.execute(text("SELECT 1"))
        except Exception:
            log.warning("health check failed", subgraph=spec.name, exc_info=True)
            return JSONResponse({"status": "unavailable"}, status_code=503)
        # The pid tells which worker process answered (`serve --workers N`).
        return JSONResponse({"status": "ok", "subgraph": spec.name, "pid": os.getpid()})

    graphql = SubgraphGraphQL(spec, settings.subgraph_max_subscriptions_per_connection)
    routes: list[BaseRoute] = [
        Route(
            "/graphql",
            BodyLimit(graphql, settings.subgraph_max_body_bytes),
            methods=["GET", "POST"],
        ),
        # Subscriptions: the same path over WebSocket (ws-contract, docs/realtime.md).
        WebSocketRoute("/graphql", graphql),
        Route("/health", health, methods=["GET"]),
        *spec.routes,
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    # The server protocol answers plain POSTs without ASGI (coursegraph/wire.py); the app
    # has no middleware of its own.
    app.state.direct_post = DirectPost(
        partial(graphql.answer, app),
        settings.subgraph_max_body_bytes,
        cors=False,
        streams=graphql.streams,
    )
    return app
