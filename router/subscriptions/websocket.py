"""Subscriptions over WebSocket: the `graphql-transport-ws` protocol (graphql-ws).

The client sends `connection_init` within `subscriptions.connection_init_timeout_seconds`,
its token in the payload (`{"Authorization": "Bearer …"}`, any case) or, failing that, in
the upgrade request's header. The edge's connect stages verify it (a bad token closes the
socket with 4403 Forbidden) before `connection_ack`. Each `subscribe` then runs the edge's
request stages and the pipeline like any request: a refusal is an `error` message, events
are `next` messages, and `complete` ends each side's interest in an operation. When a
stream fails after events, a last `next` carries the errors before `complete`.

Close codes are graphql-ws's (4400 bad message, 4401 subscribe before ack, 4403 forbidden,
4408 init timeout, 4409 duplicate id, 4429 repeated init) plus 4403 "Forbidden: token
expired" when the viewer's token expires with subscriptions open and 1001 at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial
from typing import Any

import orjson
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from router.service import Response
from router.stage import EdgeRefusal, Exchange
from router.subscriptions.stream import Serving, Stream
from router.types import JSONObject

PROTOCOL = "graphql-transport-ws"
log = logging.getLogger("router")


class _Close(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _authorization(payload: Any) -> str | None:
    """The `connection_init` payload's token. It becomes a header of the upgrade to the
    subgraph, so anything a header cannot hold (line breaks, non-ASCII) is refused rather
    than passed on, even when the router does not verify tokens itself."""
    if isinstance(payload, dict):
        for key, value in payload.items():
            if isinstance(key, str) and key.lower() == "authorization" and isinstance(value, str):
                if not value.isascii() or not value.isprintable():
                    raise _Close(4400, "Invalid Authorization in connection_init")
                return value
    return None


def _connection(websocket: WebSocket, authorization: str | None) -> HTTPConnection:
    """The upgrade request as the edge sees it: with the `connection_init` token as its
    `Authorization` header when the client sent one there."""
    if authorization is None:
        return websocket
    raw = [(k, v) for k, v in websocket.scope["headers"] if k != b"authorization"]
    raw.append((b"authorization", authorization.encode("ascii")))
    return HTTPConnection({**websocket.scope, "headers": raw})


class Session:
    """One client WebSocket."""

    def __init__(self, serving: Serving, websocket: WebSocket) -> None:
        self.serving = serving
        self.websocket = websocket
        self.connection: HTTPConnection = websocket
        self.client_address = serving.client_address(websocket)
        self.operations: dict[str, asyncio.Task[None]] = {}
        self._send_lock = asyncio.Lock()
        # A message is one request: the same size limit as an HTTP body.
        self.max_message = serving.router.config.limits.max_body_bytes

    async def run(self) -> None:
        websocket = self.websocket
        if PROTOCOL not in websocket.scope.get("subprotocols", ()):
            await websocket.close(1002)  # refused before accepting: HTTP 403
            return
        await websocket.accept(subprotocol=PROTOCOL)
        try:
            await self._initialise()
            await self._loop()
        except _Close as close:
            await self._close(close.code, close.reason)
        except WebSocketDisconnect:
            pass
        finally:
            for task in self.operations.values():
                task.cancel()
            for task in list(self.operations.values()):
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _receive(self) -> JSONObject:
        raw = await self.websocket.receive_text()
        if len(raw) > self.max_message:
            raise _Close(1009, "Message too big")
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise _Close(4400, "Invalid message received")
        return message

    async def _initialise(self) -> None:
        timeout = self.serving.config.connection_init_timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                message = await self._receive()
        except TimeoutError:
            raise _Close(4408, "Connection initialisation timeout") from None
        if message["type"] != "connection_init":
            raise _Close(4401, "Unauthorized")
        authorization = _authorization(message.get("payload"))
        self.connection = _connection(self.websocket, authorization)
        exchange = Exchange(
            self.connection, None, None, None, self.client_address, transport="websocket"
        )
        try:
            for hook in self.serving.edge.connect_hooks:
                await hook(exchange)
        except EdgeRefusal as refusal:
            raise _Close(4403, f"Forbidden: {refusal.message}"[:120]) from None
        await self._send({"type": "connection_ack"})

    async def _loop(self) -> None:
        while True:
            message = await self._receive()
            kind = message["type"]
            if kind == "ping":
                await self._send({"type": "pong"})
            elif kind == "pong":
                continue
            elif kind == "connection_init":
                raise _Close(4429, "Too many initialisation requests")
            elif kind == "subscribe":
                op_id, payload = message.get("id"), message.get("payload")
                if not isinstance(op_id, str) or not op_id or not isinstance(payload, dict):
                    raise _Close(4400, "Invalid subscribe message")
                if op_id in self.operations:
                    raise _Close(4409, f"Subscriber for {op_id[:64]} already exists")
                task = asyncio.create_task(self._operation(op_id, payload))
                self.operations[op_id] = task
                task.add_done_callback(partial(self._done, op_id))
            elif kind == "complete":
                finished = self.operations.pop(str(message.get("id")), None)
                if finished is not None:
                    finished.cancel()
            else:
                raise _Close(4400, f"Unexpected message type {kind[:32]!r}")

    def _done(self, op_id: str, task: asyncio.Task[None]) -> None:
        # Only this task's entry: a `complete` then a new `subscribe` may reuse the id.
        if self.operations.get(op_id) is task:
            del self.operations[op_id]

    async def _operation(self, op_id: str, payload: JSONObject) -> None:
        serving = self.serving
        exchange = Exchange(
            self.connection,
            payload.get("query"),
            payload.get("operationName"),
            payload.get("extensions"),
            self.client_address,
            transport="websocket",
        )
        headers = serving.subgraph_headers(self.connection, self.client_address)
        try:
            opened = await serving.open(exchange, payload.get("variables"), headers, True)
        except Exception:
            # A router bug must not leak internals: log it, refuse this operation only.
            log.exception("subscribe %s failed", headers.get("x-request-id"))
            error = {
                "message": "Internal server error.",
                "extensions": {"code": "INTERNAL_SERVER_ERROR"},
            }
            await self._send({"type": "error", "id": op_id, "payload": [error]})
            return
        if isinstance(opened, Response):
            serving.answered(exchange, opened.status, opened.body.get("errors"))
            if opened.status == 200:
                await self._send({"type": "next", "id": op_id, "payload": opened.body})
                await self._send({"type": "complete", "id": op_id})
            else:
                errors = opened.body.get("errors") or []
                await self._send({"type": "error", "id": op_id, "payload": errors})
            return
        serving.answered(exchange, 200, None)
        await self._stream(op_id, opened)

    async def _stream(self, op_id: str, stream: Stream) -> None:
        async def emit(result: JSONObject) -> None:
            await self._send({"type": "next", "id": op_id, "payload": result})

        try:
            ending = await stream.serve(emit)
        finally:
            self.serving.streams.remove(stream)
        if ending.close_code is not None:
            await self._close(ending.close_code, ending.close_reason)
        elif ending.refused:
            await self._send({"type": "error", "id": op_id, "payload": list(ending.errors)})
        else:
            if ending.errors:
                await self._send(
                    {"type": "next", "id": op_id, "payload": {"errors": list(ending.errors)}}
                )
            await self._send({"type": "complete", "id": op_id})

    async def _send(self, message: JSONObject) -> None:
        async with self._send_lock:
            if self.websocket.application_state is WebSocketState.CONNECTED:
                with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                    await self.websocket.send_text(orjson.dumps(message).decode())

    async def _close(self, code: int, reason: str) -> None:
        async with self._send_lock:
            if self.websocket.application_state is WebSocketState.CONNECTED:
                with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                    await self.websocket.close(code, reason)
        # The receive loop ends with the close; its operations end with it.
        for task in self.operations.values():
            if task is not asyncio.current_task():
                task.cancel()
