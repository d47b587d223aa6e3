"""The users subgraph's ASGI app."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from coursegraph.app import SubgraphSpec, create_subgraph_app, signed_caller
from coursegraph.identity import REVOCATIONS_PATH, JWKSSource, RevocationSource
from coursegraph.service_auth import ServiceAuthError
from coursegraph.settings import Settings, get_settings, load_section
from subgraphs.users.bootstrap import UsersContainer, bootstrap
from subgraphs.users.loaders import UsersLoaders, make_loaders
from subgraphs.users.schema import schema
from subgraphs.users.settings import UsersSettings


def _jwks_source(container: UsersContainer) -> JWKSSource:
    # Users verifies its own tokens from memory, not over HTTP to itself.
    async def source() -> dict[str, Any]:
        return container.keys.jwks()

    return source


async def jwks(request: Request) -> Response:
    container: UsersContainer = request.app.state.container
    return JSONResponse(container.keys.jwks(), headers={"cache-control": "public, max-age=300"})


def _revocation_source(container: UsersContainer) -> RevocationSource:
    # Users reads its own revocations from its database, not over HTTP to itself.
    return container.users.recent_revocations


async def token_revocations(request: Request) -> Response:
    """Recent revocations, for the token verifiers of signed services (and the router)."""
    try:
        await signed_caller(request)
    except ServiceAuthError as error:
        return JSONResponse({"error": str(error)}, status_code=401)
    container: UsersContainer = request.app.state.container
    revocations = await container.users.recent_revocations()
    return JSONResponse({"revocations": revocations}, headers={"cache-control": "no-store"})


def spec(section: UsersSettings) -> SubgraphSpec[UsersContainer, UsersLoaders]:
    return SubgraphSpec(
        name="users",
        schema=schema,
        bootstrap=lambda settings: bootstrap(settings, section),
        loaders=lambda container: make_loaders(container.users),
        routes=[
            Route("/.well-known/jwks.json", jwks, methods=["GET"]),
            Route(REVOCATIONS_PATH, token_revocations, methods=["GET"]),
        ],
        jwks_source=_jwks_source,
        revocation_source=_revocation_source,
    )


def create_app(settings: Settings | None = None, section: UsersSettings | None = None) -> Starlette:
    return create_subgraph_app(
        spec(section or load_section(UsersSettings)), settings or get_settings()
    )
