"""Starlette app: POST/GET /graphql, GraphiQL for browsers, GET /health.

Edge order, fixed here: token verification (refuse bad credentials before any work) →
request id and forwarded headers (so every subgraph call can carry them) → the router
pipeline. Parse and validation errors come back as GraphQL
errors with Apollo's codes. A hot reloader, when given, polls for the app's lifetime.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from router.edge_auth import EdgeAuthenticator
from router.graphiql import ASSETS_DIR, ASSETS_PATH, GRAPHIQL_HTML
from router.reload import Reloader
from router.service import MethodNotAllowed, Router

GRAPHQL_JSON = "application/json"
log = logging.getLogger("router")


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=GRAPHQL_JSON)


def _error(message: str, status: int, code: str = "BAD_REQUEST") -> Response:
    return _json({"errors": [{"message": message, "extensions": {"code": code}}]}, status)


def create_app(
    router: Router,
    authenticator: EdgeAuthenticator | None = None,
    reloader: Reloader | None = None,
) -> Starlette:
    config = router.config
    forwarded = tuple(h.lower() for h in config.headers.forward)
    request_id_header = config.headers.request_id.lower()

    def subgraph_headers(request: Request) -> dict[str, str]:
        headers = request.headers
        out = {name: headers[name] for name in forwarded if name in headers}
        out[request_id_header] = headers.get(request_id_header) or uuid.uuid4().hex
        # Subgraphs trust the client address only from a signed router request.
        if request.client is not None:
            prior = headers.get("x-forwarded-for")
            host = request.client.host
            out["x-forwarded-for"] = f"{prior}, {host}" if prior else host
        return out

    async def answer(
        request: Request, query: Any, name: Any, variables: Any, allow_mutation: bool
    ) -> Response:
        if authenticator is not None:
            refusal = await authenticator.refusal(request.headers.get("authorization"))
            if refusal is not None:
                return _error(refusal, 401, "UNAUTHENTICATED")
        headers = subgraph_headers(request)
        try:
            result = await router.handle(
                query, name, variables, headers, allow_mutation=allow_mutation
            )
        except MethodNotAllowed:
            response = _error("Mutations cannot be sent over GET; use POST.", 405)
            response.headers["allow"] = "POST"
            return response
        except Exception:
            # A router bug must not leak internals: log it, answer a GraphQL error.
            log.exception("request %s failed", headers[request_id_header])
            return _error("Internal server error.", 500, "INTERNAL_SERVER_ERROR")
        response = _json(result.body, result.status)
        response.headers[request_id_header] = headers[request_id_header]
        return response

    async def graphql_post(request: Request) -> Response:
        try:
            payload = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error("The request body is not valid JSON.", 400)
        if not isinstance(payload, dict):
            return _error("The request body must be a JSON object.", 400)
        return await answer(
            request,
            payload.get("query"),
            payload.get("operationName"),
            payload.get("variables"),
            allow_mutation=True,
        )

    async def graphql_get(request: Request) -> Response:
        params = request.query_params
        accept = request.headers.get("accept", "")
        if "query" not in params and "text/html" in accept:
            if config.graphiql.enabled:
                return HTMLResponse(GRAPHIQL_HTML)
            return _error("GraphiQL is disabled.", 404)
        variables: Any = None
        if params.get("variables"):
            try:
                variables = orjson.loads(params["variables"])
            except orjson.JSONDecodeError:
                return _error("`variables` is not valid JSON.", 400)
        return await answer(
            request,
            params.get("query"),
            params.get("operationName") or None,
            variables,
            allow_mutation=False,
        )

    async def health(request: Request) -> Response:
        return _json({"status": "ok"})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        watcher = asyncio.create_task(reloader.run()) if reloader is not None else None
        try:
            yield
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            await router.close()

    return Starlette(
        routes=[
            Route("/graphql", graphql_post, methods=["POST"]),
            Route("/graphql", graphql_get, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
            Mount(ASSETS_PATH, app=StaticFiles(directory=ASSETS_DIR), name="graphiql-assets"),
        ],
        lifespan=lifespan,
    )
