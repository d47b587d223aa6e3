"""Users' plain HTTP routes beside GraphQL: the JWKS and the recent token revocations."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from coursegraph.app import signed_caller
from coursegraph.identity import REVOCATIONS_PATH
from coursegraph.service_auth import ServiceAuthError
from subgraphs.users.bootstrap import UsersContainer


async def jwks(request: Request) -> Response:
    container: UsersContainer = request.app.state.container
    return JSONResponse(container.keys.jwks(), headers={"cache-control": "public, max-age=300"})


async def token_revocations(request: Request) -> Response:
    """Recent revocations, for the token verifiers of signed services (and the router)."""
    try:
        await signed_caller(request)
    except ServiceAuthError as error:
        return JSONResponse({"error": str(error)}, status_code=401)
    container: UsersContainer = request.app.state.container
    revocations = await container.users.recent_revocations()
    return JSONResponse({"revocations": revocations}, headers={"cache-control": "no-store"})


routes = [
    Route("/.well-known/jwks.json", jwks, methods=["GET"]),
    Route(REVOCATIONS_PATH, token_revocations, methods=["GET"]),
]
