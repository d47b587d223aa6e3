"""The users subgraph's ASGI app."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from coursegraph.app import SubgraphSpec, create_subgraph_app
from coursegraph.identity import JWKSSource
from coursegraph.settings import Settings, get_settings
from subgraphs.users.bootstrap import UsersContainer, bootstrap
from subgraphs.users.loaders import UsersLoaders, make_loaders
from subgraphs.users.schema import schema


def _jwks_source(container: UsersContainer) -> JWKSSource:
    # Users verifies its own tokens from memory, not over HTTP to itself.
    async def source() -> dict[str, Any]:
        return container.keys.jwks()

    return source


async def jwks(request: Request) -> Response:
    container: UsersContainer = request.app.state.container
    return JSONResponse(container.keys.jwks(), headers={"cache-control": "public, max-age=300"})


def spec() -> SubgraphSpec[UsersContainer, UsersLoaders]:
    return SubgraphSpec(
        name="users",
        schema=schema,
        bootstrap=bootstrap,
        loaders=lambda container: make_loaders(container.users),
        routes=[Route("/.well-known/jwks.json", jwks, methods=["GET"])],
        jwks_source=_jwks_source,
    )


def create_app(settings: Settings | None = None) -> Starlette:
    return create_subgraph_app(spec(), settings or get_settings())
