"""Bearer-token verification at the edge (ARCHITECTURE.md: the router verifies, then
forwards `Authorization`; subgraphs verify again).

Uses the shared kernel's `TokenVerifier` against users' JWKS with the algorithm, issuer
and audience from settings. A request without a token passes (public fields); a request
with a bad one is refused before any planning or subgraph call. The verified claims
(`Viewer`: user id, role, scopes) go on the exchange for rate limiting and authorization.
"""

from __future__ import annotations

from typing import Any

import httpx

from coursegraph.errors import Unauthenticated
from coursegraph.identity import JWKSCache, JWKSSource, TokenVerifier, Viewer, bearer_token
from coursegraph.settings import Settings
from router.edge.stage import EdgeRefusal, Exchange, Stage


def jwks_over_http(url: str) -> JWKSSource:
    async def fetch() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=5.0) as client:
            response = await client.get(url)
            response.raise_for_status()
            document: dict[str, Any] = response.json()
            return document

    return fetch


class EdgeAuthenticator:
    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier

    @classmethod
    def from_settings(cls, settings: Settings, jwks_url: str | None) -> EdgeAuthenticator:
        keys = JWKSCache(
            jwks_over_http(jwks_url or settings.resolved_jwks_url),
            min_refresh_seconds=settings.jwks_min_refresh_seconds,
        )
        return cls(
            TokenVerifier(
                keys,
                algorithm=settings.jwt_algorithm,
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                leeway_seconds=settings.jwt_leeway_seconds,
            )
        )

    async def authenticate(self, authorization: str | None) -> Viewer | None:
        """The verified claims, None without a token; raises EdgeRefusal (401) for a bad one."""
        try:
            token = bearer_token(authorization)
            if token is None:
                return None
            return await self._verifier.verify(token)
        except Unauthenticated as exc:
            message = exc.message
        except (httpx.HTTPError, ValueError):
            message = "The access token cannot be verified right now."
        raise EdgeRefusal(401, message, "UNAUTHENTICATED")


class Authentication(Stage):
    """The pipeline stage: puts the viewer (claims) on the exchange for later stages."""

    def __init__(self, authenticator: EdgeAuthenticator) -> None:
        self.authenticator = authenticator

    async def on_request(self, exchange: Exchange) -> None:
        authorization = exchange.request.headers.get("authorization")
        exchange.viewer = await self.authenticator.authenticate(authorization)
