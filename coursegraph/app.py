"""One Starlette app factory for every subgraph: GraphQL, health, auth wiring, lifespan."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import orjson
import strawberry
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, process_result
from strawberry.types import ExecutionResult

from coursegraph.body_limit import BodyLimit
from coursegraph.context import RequestContext
from coursegraph.db import Database
from coursegraph.errors import Unauthenticated
from coursegraph.federation import format_errors
from coursegraph.identity import (
    JWKSSource,
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
    ServiceAuthError,
    ServiceVerifier,
)
from coursegraph.settings import SERVICES, Settings

log = get_logger("coursegraph.app")


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
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class EdgeAuth:
    tokens: TokenVerifier
    services: ServiceVerifier
    strict: bool


class SubgraphGraphQL(GraphQL[RequestContext[Any, Any], None]):
    def __init__(self, spec: SubgraphSpec[Any, Any], settings: Settings) -> None:
        super().__init__(
            spec.schema,
            graphql_ide="graphiql" if not settings.is_production else None,
            allow_queries_via_get=True,
        )
        self._spec = spec

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
        assert isinstance(request, Request)
        state = request.app.state
        auth: EdgeAuth = state.auth
        container = state.container
        context = RequestContext[Any, Any](
            request=request,
            container=container,
            loaders=self._spec.loaders(container),
            request_id=request.headers.get("x-request-id") or secrets.token_hex(8),
            client_address=request.client.host if request.client else None,
        )
        await _verify_service(context, request, auth)
        await _verify_viewer(context, request, auth)
        return context


async def _verify_service(
    context: RequestContext[Any, Any], request: Request, auth: EdgeAuth
) -> None:
    headers = request.headers
    if not ServiceVerifier.is_signed(headers):
        if auth.strict:
            raise _http_error(401, "This subgraph accepts signed service requests only.")
        return
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    try:
        context.service = await auth.services.verify(
            request.method, path, headers, await request.body()
        )
    except ServiceAuthError as error:
        if auth.strict:
            raise _http_error(401, str(error)) from None
        context.service_error = f"Service signature refused: {error}."
        return
    # Only a verified router may tell us the end client's address.
    forwarded = headers.get("x-forwarded-for")
    if context.service == "router" and forwarded:
        context.client_address = forwarded.split(",")[0].strip()


async def _verify_viewer(
    context: RequestContext[Any, Any], request: Request, auth: EdgeAuth
) -> None:
    try:
        token = bearer_token(request.headers.get("authorization"))
        viewer: Viewer | None = await auth.tokens.verify(token) if token else None
    except Unauthenticated as error:
        context._auth_error = error
        return
    context._viewer = viewer


def _http_error(status: int, reason: str) -> Exception:
    from cross_web import HTTPException

    return HTTPException(status, reason)


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
            tokens = (
                verifier_from_settings(
                    settings, spec.jwks_source(container), min_refresh_seconds=0.0
                )
                if spec.jwks_source is not None
                else verifier_from_settings(settings)
            )
            app.state.container = container
            app.state.auth = EdgeAuth(
                tokens=tokens,
                services=ServiceVerifier(
                    {name: settings.service_key(name) for name in SERVICES},
                    nonce_store(redis),
                    max_skew_seconds=settings.service_auth_max_skew_seconds,
                ),
                strict=settings.service_auth_strict,
            )
            log.info("subgraph started", subgraph=spec.name)
            try:
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
        return JSONResponse({"status": "ok", "subgraph": spec.name})

    graphql = SubgraphGraphQL(spec, settings)
    routes: list[BaseRoute] = [
        Route(
            "/graphql",
            BodyLimit(graphql, settings.max_request_body_bytes),
            methods=["GET", "POST"],
        ),
        Route("/health", health, methods=["GET"]),
        *spec.routes,
    ]
    return Starlette(routes=routes, lifespan=lifespan)
