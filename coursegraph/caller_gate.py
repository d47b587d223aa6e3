"""The gate in front of every subgraph's GraphQL: only the router and known services pass.

A subgraph's GraphQL endpoint is private (ARCHITECTURE.md), in every environment. A call
passes when it is HMAC-signed by a known service, or when it carries the router credential
(`ROUTER_SHARED_SECRET` in `X-Router-Credential`) that a third-party router such as Hive
Gateway or Apollo Router sends because it cannot sign; that caller counts as `router`.
Anything else is answered 401 UNAUTHENTICATED before its body is read, so an anonymous
call costs no parsing. Public HTTP routes (uploads, media, webhooks, JWKS, health) never
pass through here.

A WebSocket upgrade (subscriptions, docs/realtime.md) passes the same gate: its GET is
signed like any request, over an empty body, and is refused (HTTP 403) before the socket
is accepted.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response

from coursegraph.errors import ErrorCode
from coursegraph.service_auth import ServiceAuthError, ServiceVerifier

ROUTER = "router"
CREDENTIAL_HEADER = "x-router-credential"
# Where the verified caller's name waits for the request context.
CALLER_SCOPE_KEY = "coursegraph.caller"

UNSIGNED_MESSAGE = (
    "This subgraph answers only the router and known services: send GraphQL to the "
    "router, or sign the call (X-Service-* headers) or send the router credential."
)


class CallerRefused(Exception):
    """A call the gate turns away; `response()` is what the caller gets."""

    def __init__(self, status: int, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> Response:
        error = {"message": self.message, "extensions": {"code": str(self.code)}}
        return JSONResponse({"errors": [error]}, status_code=self.status)


def header_map(connection: HTTPConnection) -> dict[str, str]:
    """The request's headers as one dict, the first of a repeated name winning as in
    Starlette's `Headers` (whose every lookup scans and decodes the whole list: the gate
    makes a dozen)."""
    return {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in reversed(connection.scope["headers"])
    }


# A path that Starlette's URL leaves as it is (nothing escaped, split or dropped).
_PLAIN_PATH = re.compile(r"/(?!/)[A-Za-z0-9/._~-]*")


def _signed_path(connection: HTTPConnection) -> str:
    """The path and query the signer signed, as Starlette's `URL` reads them; without
    building that URL (host parsing, escaping, splitting) for the usual plain path."""
    scope = connection.scope
    path: str = scope["path"]
    if not scope.get("query_string") and _PLAIN_PATH.fullmatch(path):
        return path
    url = connection.url
    return f"{url.path}?{url.query}" if url.query else url.path


def _refused(message: str) -> CallerRefused:
    return CallerRefused(401, ErrorCode.UNAUTHENTICATED, message)


@dataclass(frozen=True)
class CallerGate:
    services: ServiceVerifier
    # The third-party router's shared credential; None: only signed calls pass.
    router_credential: bytes | None

    async def admit(self, request: Request, headers: Mapping[str, str]) -> tuple[str, bytes]:
        """The verified caller and the request body, or CallerRefused; `headers`: the
        request's `header_map`."""
        if ServiceVerifier.is_signed(headers):
            # Header checks first: a forged or stale call is refused unread.
            self._precheck(headers)
            body = await request.body()  # capped by the kernel's BodyLimit
            return await self._verify(request, headers, request.method, body), body
        return self._credential(headers), await request.body()

    async def admit_upgrade(self, connection: HTTPConnection) -> str:
        """The verified caller of a WebSocket upgrade (a GET with no body), or
        CallerRefused with status 403: a refused handshake is never accepted."""
        headers = header_map(connection)
        try:
            if ServiceVerifier.is_signed(headers):
                self._precheck(headers)
                return await self._verify(connection, headers, "GET", b"")
            return self._credential(headers)
        except CallerRefused as refused:
            raise CallerRefused(403, refused.code, refused.message) from None

    def _precheck(self, headers: Mapping[str, str]) -> None:
        try:
            self.services.precheck(headers)
        except ServiceAuthError as error:
            raise _refused(f"Service signature refused: {error}.") from None

    async def _verify(
        self, connection: HTTPConnection, headers: Mapping[str, str], method: str, body: bytes
    ) -> str:
        try:
            return await self.services.verify(method, _signed_path(connection), headers, body)
        except ServiceAuthError as error:
            raise _refused(f"Service signature refused: {error}.") from None

    def _credential(self, headers: Mapping[str, str]) -> str:
        """`router` for the third-party router's credential; anything else is refused."""
        presented = headers.get(CREDENTIAL_HEADER)
        if presented is None:
            raise _refused(UNSIGNED_MESSAGE)
        expected = self.router_credential
        if expected is None or not hmac.compare_digest(presented.encode(), expected):
            raise _refused("Router credential refused.")
        return ROUTER
