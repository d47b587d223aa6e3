"""The router's side of a subscription to one subgraph: `graphql-transport-ws` over a
WebSocket whose upgrade is signed like any subgraph request (ARCHITECTURE.md, HMAC over
`GET\\n<path>\\n<ts>\\n<nonce>\\nsha256("")`) and carries the client's forwarded headers
(its `Authorization`, `X-Forwarded-For`, the request id).

One socket per client subscription: simple, and a subgraph sees each viewer's token on
its own socket (it checks authorization at subscribe time and closes with 4403 when that
token expires).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from coursegraph.service_auth import ServiceSigner
from router.http import SubgraphEndpoint
from router.types import JSONObject

PROTOCOL = Subprotocol("graphql-transport-ws")
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
UNAUTHENTICATED = "UNAUTHENTICATED"
# What a subgraph closes the socket with when the viewer's token expires (ws-contract).
TOKEN_EXPIRED_CLOSE = 4403
# An event larger than this ends the subscription (a subgraph answer, not client input).
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


class UpstreamError(Exception):
    """The subgraph refused or ended the subscription; `errors` say why, for the client.
    `refused`: before any event (the subgraph's `error` message, a refused handshake)."""

    def __init__(self, errors: list[JSONObject], refused: bool = False) -> None:
        super().__init__(errors[0].get("message", "subscription failed") if errors else "")
        self.errors = errors
        self.refused = refused


def websocket_url(url: str) -> str:
    """The subgraph's routing URL with the scheme switched to ws/wss (same path)."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return urlunsplit(parts._replace(scheme=scheme))


class Upstream:
    """One subscription to one subgraph: `open()`, then `next()` until it returns None (the
    subgraph completed), then `close()`. Failures raise UpstreamError."""

    def __init__(
        self,
        endpoint: SubgraphEndpoint,
        signer: ServiceSigner | None,
        headers: Mapping[str, str],
        document: str,
        variables: JSONObject,
    ) -> None:
        self.endpoint = endpoint
        self._signer = signer
        self._headers = dict(headers)
        self._document = document
        self._variables = variables
        self._socket: ClientConnection | None = None
        self._events = 0

    def _error(self, message: str, code: str = SERVICE_UNAVAILABLE) -> JSONObject:
        name = self.endpoint.name
        return {"message": message, "extensions": {"code": code, "serviceName": name}}

    async def open(self) -> None:
        url = websocket_url(self.endpoint.url)
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = dict(self._headers)
        if self._signer is not None:
            headers.update(self._signer.headers("GET", path, b""))
        name = self.endpoint.name
        timeout = self.endpoint.timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                self._socket = await connect(
                    url,
                    subprotocols=[PROTOCOL],
                    additional_headers=headers,
                    open_timeout=None,
                    # Closing waits this long for the subgraph's close frame at most.
                    close_timeout=2,
                    max_size=MAX_MESSAGE_BYTES,
                    compression=None,
                )
                await self._send({"type": "connection_init", "payload": {}})
                while True:
                    message = await self._receive()
                    if message.get("type") == "connection_ack":
                        break
                    if message.get("type") == "ping":
                        await self._send({"type": "pong"})
                await self._send(
                    {
                        "type": "subscribe",
                        "id": "1",
                        "payload": {"query": self._document, "variables": self._variables},
                    }
                )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status == 401:
                # The subgraph refused the client's token (its own verification).
                raise UpstreamError(
                    [self._error("The access token was refused.", UNAUTHENTICATED)], True
                ) from None
            raise UpstreamError(
                [self._error(f"Subgraph '{name}' refused the subscription (HTTP {status}).")],
                True,
            ) from None
        except (OSError, InvalidHandshake, ConnectionClosed, TimeoutError) as exc:
            await self.close()
            reason = (
                "timed out" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
            )
            raise UpstreamError(
                [self._error(f"Subgraph '{name}' is unavailable: {reason}")], True
            ) from None

    async def next(self) -> JSONObject | None:
        """The next event's payload (`{data, errors?}`), or None when the subgraph completed
        the subscription."""
        name = self.endpoint.name
        try:
            while True:
                message = await self._receive()
                kind = message.get("type")
                if kind == "next" and message.get("id") == "1":
                    payload = message.get("payload")
                    if not isinstance(payload, dict):
                        raise UpstreamError([self._error(f"Subgraph '{name}' sent a bad event.")])
                    self._events += 1
                    return payload
                if kind == "error" and message.get("id") == "1":
                    errors = message.get("payload")
                    if not isinstance(errors, list) or not errors:
                        errors = [{"message": "The subgraph refused the subscription."}]
                    raise UpstreamError(
                        [self._tagged(e) for e in errors], refused=self._events == 0
                    )
                if kind == "complete" and message.get("id") == "1":
                    return None
                if kind == "ping":
                    await self._send({"type": "pong"})
        except ConnectionClosed as exc:
            frame = exc.rcvd
            if frame is not None and frame.code == TOKEN_EXPIRED_CLOSE:
                raise UpstreamError(
                    [self._error("The access token has expired.", UNAUTHENTICATED)]
                ) from None
            code = frame.code if frame is not None else 1006
            raise UpstreamError(
                [
                    self._error(
                        f"Subgraph '{name}' closed the subscription's connection "
                        f"(code {code}); subscribe again."
                    )
                ]
            ) from None

    def _tagged(self, error: Any) -> JSONObject:
        if not isinstance(error, dict):
            error = {"message": str(error)}
        extensions = dict(error.get("extensions") or {})
        extensions.setdefault("serviceName", self.endpoint.name)
        return {**error, "extensions": extensions}

    async def _send(self, message: JSONObject) -> None:
        assert self._socket is not None
        await self._socket.send(orjson.dumps(message).decode())

    async def _receive(self) -> JSONObject:
        assert self._socket is not None
        raw = await self._socket.recv()
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            message = None
        if not isinstance(message, dict):
            raise UpstreamError(
                [self._error(f"Subgraph '{self.endpoint.name}' broke the protocol.")]
            )
        return message

    async def close(self) -> None:
        """Tell the subgraph the subscription is over and close the socket (idempotent)."""
        socket, self._socket = self._socket, None
        if socket is None:
            return
        with contextlib.suppress(ConnectionClosed, OSError):
            await socket.send(orjson.dumps({"type": "complete", "id": "1"}).decode())
        with contextlib.suppress(ConnectionClosed, OSError):
            await socket.close()
