"""One endpoint served without Starlette's routing: the router's hot path, POST /graphql.

Starlette finds an endpoint by trying each route's pattern, and wraps the call twice in
its exception handling (ExceptionMiddleware, then `request_response`); for a GraphQL
endpoint that answers every failure itself, that is work per request with no effect. This
ASGI layer sits innermost in the app's middleware, where routing would start, so the edge's
layers (CORS) and Starlette's ServerErrorMiddleware still wrap the endpoint: the request,
the response and a crash's 500 are the same. Any other method or path goes on to the
routes; the endpoint keeps its Route there, which answers other methods' 405 with the
`Allow` header naming it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]


class DirectRoute:
    def __init__(self, app: ASGIApp, *, method: str, path: str, endpoint: Endpoint) -> None:
        self.app = app
        self.method = method
        self.path = path
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == self.method and self._matches(scope):
            response = await self.endpoint(Request(scope, receive, send))
            await response(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _matches(self, scope: Scope) -> bool:
        return _route_path(scope) == self.path


def _route_path(scope: Scope) -> str:
    """The path Starlette's routes match (its private `get_route_path`): the part under the
    app's mount point (root_path) when the path continues it at a segment boundary."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if not root_path or not path.startswith(root_path):
        return path
    if path == root_path:
        return ""
    return path[len(root_path) :] if path[len(root_path)] == "/" else path
