"""The router's side of a subscription to one subgraph: `graphql-transport-ws` over a
WebSocket whose upgrade is signed like any subgraph request (ARCHITECTURE.md, HMAC over
`GET\\n<path>\\n<ts>\\n<nonce>\\nsha256("")`) and carries the client's forwarded headers
(its `Authorization`, `X-Forwarded-For`, the request id).

Sockets are shared (`UpstreamPool`): subscriptions to one subgraph whose forwarded headers
are the same (request id aside) ride one socket, one operation id each, up to
`subscriptions.max_per_upstream_connection`; then another socket opens. Two viewers never
share one: a subgraph checks the token of the upgrade and closes the socket with 4403 when
it expires, which must end that viewer's streams only. The socket closes with its last
subscription; losing it ends each of its streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
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

log = logging.getLogger("router")
PROTOCOL = Subprotocol("graphql-transport-ws")
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
UNAUTHENTICATED = "UNAUTHENTICATED"
RATE_LIMITED = "RATE_LIMITED"
# What a subgraph closes the socket with when the viewer's token expires (ws-contract).
TOKEN_EXPIRED_CLOSE = 4403
# An event larger than this ends the subscription (a subgraph answer, not client input).
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
# Events waiting for a slow stream; past it the oldest goes (values are whole states, so the
# newer event still carries what the client should see, as the subgraphs' own queues do).
MAX_WAITING_EVENTS = 16


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


def _error(endpoint: SubgraphEndpoint, message: str, code: str = SERVICE_UNAVAILABLE) -> JSONObject:
    return {"message": message, "extensions": {"code": code, "serviceName": endpoint.name}}


class _Operation:
    """One subscription's share of a socket: its waiting events and how it ended."""

    __slots__ = ("ended", "events", "received", "settled", "wake")

    def __init__(self) -> None:
        self.received = 0
        # The subgraph ended it (error, complete, the socket gone): no `complete` to send.
        self.settled = False
        self.events: deque[JSONObject] = deque(maxlen=MAX_WAITING_EVENTS)
        # None: open; else the UpstreamError to raise, or _COMPLETED.
        self.ended: UpstreamError | str | None = None
        self.wake = asyncio.Event()


_COMPLETED = "complete"


class UpstreamConnection:
    """One graphql-transport-ws socket to one subgraph, for one set of forwarded headers.
    `slots` counts the subscriptions holding it (opening or open); a reader task routes the
    subgraph's messages to them by id."""

    def __init__(
        self,
        pool: UpstreamPool,
        key: tuple[Any, ...],
        endpoint: SubgraphEndpoint,
        signer: ServiceSigner | None,
        headers: Mapping[str, str],
    ) -> None:
        self.pool = pool
        self.key = key
        self.endpoint = endpoint
        self.slots = 0
        self.closed = False
        self._ids = itertools.count(1)
        self._operations: dict[str, _Operation] = {}
        self._socket: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self.ready: asyncio.Task[None] = asyncio.get_running_loop().create_task(
            self._open(signer, dict(headers))
        )

    async def _open(self, signer: ServiceSigner | None, headers: dict[str, str]) -> None:
        endpoint = self.endpoint
        url = websocket_url(endpoint.url)
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if signer is not None:
            headers.update(signer.headers("GET", path, b""))
        try:
            async with asyncio.timeout(endpoint.timeout_seconds):
                self._socket = await connect(
                    url,
                    subprotocols=[PROTOCOL],
                    additional_headers=headers,
                    open_timeout=None,
                    # Closing waits this long for the subgraph's close frame at most.
                    close_timeout=2,
                    max_size=MAX_MESSAGE_BYTES,
                    # The reader drains the socket into each operation's bounded queue.
                    max_queue=None,
                    compression=None,
                )
                await self._send({"type": "connection_init", "payload": {}})
                while True:
                    message = await self._receive()
                    if message.get("type") == "connection_ack":
                        break
                    if message.get("type") == "ping":
                        await self._send({"type": "pong"})
        except InvalidStatus as exc:
            self._discard()
            status = exc.response.status_code
            if status == 401:
                # The subgraph refused the client's token (its own verification).
                raise UpstreamError(
                    [_error(endpoint, "The access token was refused.", UNAUTHENTICATED)], True
                ) from None
            raise UpstreamError(
                [
                    _error(
                        endpoint,
                        f"Subgraph '{endpoint.name}' refused the subscription (HTTP {status}).",
                    )
                ],
                True,
            ) from None
        except (OSError, InvalidHandshake, ConnectionClosed, TimeoutError, UpstreamError) as exc:
            self._discard()
            await self._close_socket()
            if isinstance(exc, UpstreamError):
                raise UpstreamError(exc.errors, True) from None
            reason = (
                "timed out" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
            )
            raise UpstreamError(
                [_error(endpoint, f"Subgraph '{endpoint.name}' is unavailable: {reason}")], True
            ) from None
        except asyncio.CancelledError:
            self._discard()
            await self._close_socket()
            raise
        self._reader = asyncio.get_running_loop().create_task(self._read())

    def add(self) -> tuple[str, _Operation]:
        """A new operation's id and share (registered before its `subscribe` is sent, so a
        release in between still completes it)."""
        operation_id = str(next(self._ids))
        operation = self._operations[operation_id] = _Operation()
        return operation_id, operation

    async def subscribe(self, operation_id: str, document: str, variables: JSONObject) -> None:
        payload = {"query": document, "variables": variables}
        # A closed socket: the reader ends the operation with the socket's own error.
        with contextlib.suppress(ConnectionClosed, OSError):
            await self._send({"type": "subscribe", "id": operation_id, "payload": payload})

    async def _read(self) -> None:
        endpoint = self.endpoint
        try:
            while True:
                message = await self._receive()
                kind = message.get("type")
                if kind == "ping":
                    await self._send({"type": "pong"})
                    continue
                operation = self._operations.get(str(message.get("id")))
                if operation is None or operation.ended is not None:
                    continue  # completed by the router meanwhile, or never ours
                if kind == "next":
                    payload = message.get("payload")
                    if isinstance(payload, dict):
                        operation.received += 1
                        operation.events.append(payload)
                    else:
                        operation.ended = UpstreamError(
                            [_error(endpoint, f"Subgraph '{endpoint.name}' sent a bad event.")]
                        )
                elif kind == "error":
                    operation.settled = True
                    errors = message.get("payload")
                    if not isinstance(errors, list) or not errors:
                        errors = [{"message": "The subgraph refused the subscription."}]
                    operation.ended = UpstreamError(
                        [self._tagged(e) for e in errors], refused=operation.received == 0
                    )
                elif kind == "complete":
                    operation.settled = True
                    operation.ended = _COMPLETED
                else:
                    continue
                operation.wake.set()
        except ConnectionClosed as exc:
            frame = exc.rcvd
            if frame is not None and frame.code == TOKEN_EXPIRED_CLOSE:
                error = _error(endpoint, "The access token has expired.", UNAUTHENTICATED)
            else:
                code = frame.code if frame is not None else 1006
                error = _error(
                    endpoint,
                    f"Subgraph '{endpoint.name}' closed the subscription's connection "
                    f"(code {code}); subscribe again.",
                )
            self._end_all(error)
        except UpstreamError as exc:
            self._end_all(exc.errors[0])
            await self._close_socket()
        except OSError as exc:
            self._end_all(_error(endpoint, f"Subgraph '{endpoint.name}' is unavailable: {exc}"))
            await self._close_socket()
        except Exception:
            # A router bug must not leave streams waiting forever on a dead reader.
            log.exception("subscription socket to %s failed", endpoint.name)
            self._end_all(_error(endpoint, "Internal server error.", "INTERNAL_SERVER_ERROR"))
            await self._close_socket()

    def _end_all(self, error: JSONObject) -> None:
        """The socket is gone: each open operation ends with `error`; none joins it now."""
        self._discard()
        for operation in self._operations.values():
            operation.settled = True
            if operation.ended is None:
                extensions = dict(error["extensions"])
                operation.ended = UpstreamError([{**error, "extensions": extensions}])
                operation.wake.set()

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
                [_error(self.endpoint, f"Subgraph '{self.endpoint.name}' broke the protocol.")]
            )
        return message

    async def release(self, operation_id: str | None) -> None:
        """One subscription lets go: `complete` for its operation if it is still running,
        and the socket closes when it was the last."""
        operation = self._operations.pop(operation_id, None) if operation_id else None
        self.slots -= 1
        last = self.slots == 0
        if last:
            self._discard()
            if not self.ready.done():
                self.ready.cancel()  # every subscriber left during the handshake
        if operation is not None and not operation.settled and not self.closed:
            with contextlib.suppress(ConnectionClosed, OSError):
                await self._send({"type": "complete", "id": operation_id})
        if last:
            self.closed = True
            if self._reader is not None:
                self._reader.cancel()
            await self._close_socket()

    def _discard(self) -> None:
        """No new subscription joins this socket (it is closing, or gone)."""
        self.pool.discard(self)

    async def _close_socket(self) -> None:
        self.closed = True
        socket, self._socket = self._socket, None
        if socket is not None:
            with contextlib.suppress(ConnectionClosed, OSError):
                await socket.close()


class UpstreamPool:
    """The router process's subscription sockets, by subgraph and forwarded headers."""

    def __init__(self) -> None:
        self._open: dict[tuple[Any, ...], list[UpstreamConnection]] = {}

    def __len__(self) -> int:
        """Open sockets (tests, benchmarks)."""
        return sum(len(connections) for connections in self._open.values())

    def acquire(
        self,
        endpoint: SubgraphEndpoint,
        signer: ServiceSigner | None,
        headers: Mapping[str, str],
        request_id_header: str,
        capacity: int,
    ) -> UpstreamConnection:
        """A socket with a free slot, taken, for a subscription with these headers: all of
        them but the request id must be the same to share one (the socket's upgrade carries
        its first subscription's request id). The caller awaits its `ready` and must
        `release()` it."""
        key = (
            endpoint,
            tuple(
                sorted((n.lower(), v) for n, v in headers.items() if n.lower() != request_id_header)
            ),
        )
        connections = self._open.setdefault(key, [])
        for connection in connections:
            if connection.slots < capacity:
                connection.slots += 1
                return connection
        connection = UpstreamConnection(self, key, endpoint, signer, headers)
        connection.slots = 1
        connections.append(connection)
        return connection

    def discard(self, connection: UpstreamConnection) -> None:
        connections = self._open.get(connection.key)
        if connections is not None and connection in connections:
            connections.remove(connection)
            if not connections:
                del self._open[connection.key]


class Upstream:
    """One subscription to one subgraph: `open()`, then `next()` until it returns None (the
    subgraph completed), then `close()`. Failures raise UpstreamError."""

    def __init__(
        self,
        pool: UpstreamPool,
        endpoint: SubgraphEndpoint,
        signer: ServiceSigner | None,
        headers: Mapping[str, str],
        request_id_header: str,
        capacity: int,
        document: str,
        variables: JSONObject,
    ) -> None:
        self.endpoint = endpoint
        self._pool = pool
        self._signer = signer
        self._headers = headers
        self._request_id_header = request_id_header
        self._capacity = capacity
        self._document = document
        self._variables = variables
        self._connection: UpstreamConnection | None = None
        self._id: str | None = None
        self._operation: _Operation | None = None
        self._moved = False

    async def open(self) -> None:
        connection = self._connection = self._pool.acquire(
            self.endpoint, self._signer, self._headers, self._request_id_header, self._capacity
        )
        # Shielded: one subscriber going away must not cancel a handshake others wait on.
        await asyncio.shield(connection.ready)
        self._id, self._operation = connection.add()
        await connection.subscribe(self._id, self._document, self._variables)

    async def next(self) -> JSONObject | None:
        """The next event's payload (`{data, errors?}`), or None when the subgraph completed
        the subscription."""
        while True:
            operation = self._operation
            assert operation is not None
            if operation.events:
                return operation.events.popleft()
            if isinstance(operation.ended, UpstreamError):
                if self._socket_full(operation, operation.ended):
                    await self._move()
                    continue
                raise operation.ended
            if operation.ended is not None:
                return None
            operation.wake.clear()
            await operation.wake.wait()

    def _socket_full(self, operation: _Operation, error: UpstreamError) -> bool:
        """The subgraph refused the subscribe with RATE_LIMITED before any event: its
        per-socket cap is below ours (`max_per_upstream_connection`). Moved once at most."""
        if self._moved or operation.received or not error.errors:
            return False
        extensions = error.errors[0].get("extensions")
        return isinstance(extensions, dict) and extensions.get("code") == RATE_LIMITED

    async def _move(self) -> None:
        """Subscribe again on another socket; the full one takes no new subscriptions."""
        self._moved = True
        connection, self._connection = self._connection, None
        assert connection is not None
        self._pool.discard(connection)
        await connection.release(self._id)
        self._id = self._operation = None
        await self.open()

    async def close(self) -> None:
        """Let go of the socket (idempotent); the last subscription on it closes it."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.release(self._id)
