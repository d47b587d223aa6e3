"""Bearer-token verification at the edge (ARCHITECTURE.md: the router verifies, then
forwards `Authorization`; subgraphs verify again).

Uses the shared kernel's `TokenVerifier` against users' JWKS with the algorithm, issuer
and audience from settings. A request without a token passes (public fields); a request
with a bad one is refused before any planning or subgraph call. The verified claims
(`Viewer`: user id, role, scopes) go on the exchange for rate limiting and authorization.
"""

from __future__ import annotations

import httpx

from coursegraph.errors import Unauthenticated
from coursegraph.identity import (
    TokenVerifier,
    Viewer,
    bearer_token,
    jwks_over_http,
    revocations_over_http,
    verifier_from_settings,
)
from coursegraph.settings import Settings
from router.stage import EdgeRefusal, Exchange, Stage


class EdgeAuthenticator:
    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier

    @classmethod
    def from_settings(cls, settings: Settings, jwks_url: str | None) -> EdgeAuthenticator:
        if not jwks_url:
            return cls(verifier_from_settings(settings, service="router"))
        # Users is where its JWKS is: ask the same origin for revocations.
        users_url = str(httpx.URL(jwks_url).copy_with(path="/", query=None)).rstrip("/")
        return cls(
            verifier_from_settings(
                settings,
                jwks_over_http(jwks_url),
                service="router",
                revocations=revocations_over_http(settings, "router", users_url),
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

    # A WebSocket's token is verified when it connects, and again (cached) per operation.
    on_connect = on_request
