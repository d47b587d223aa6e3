"""Request bodies read under a cap that streams: 413 before anything large is buffered.

A `Content-Length` over the cap is refused before a byte of the body is read; a body
without one (chunked) is counted as it arrives and refused the moment it passes the cap.
`BodyLimit` applies the rule around any endpoint or ASGI app (every subgraph's GraphQL,
webhooks, the sandbox checkout); `read_body` is the same rule for code that reads the body
itself (the router). Uploads stream to storage under a cap of their own (the signed size).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import cast

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import request_response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"

Handler = Callable[[Request], Awaitable[Response]]


class BodyTooLarge(Exception):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"The request body is larger than {max_bytes} bytes.")
        self.max_bytes = max_bytes


def _declared_too_large(headers: Headers, max_bytes: int) -> bool:
    declared = headers.get("content-length")
    return declared is not None and declared.isdigit() and int(declared) > max_bytes


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The whole body, or BodyTooLarge as soon as it is known to pass `max_bytes`."""
    if _declared_too_large(request.headers, max_bytes):
        raise BodyTooLarge(max_bytes)
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge(max_bytes)
        parts.append(chunk)
    return b"".join(parts)


def too_large_response(error: BodyTooLarge) -> Response:
    """The 413 every capped endpoint answers, shaped as a GraphQL error."""
    return JSONResponse(
        {"errors": [{"message": str(error), "extensions": {"code": PAYLOAD_TOO_LARGE}}]},
        status_code=413,
        # The rest of the body is never read: the connection cannot be reused.
        headers={"connection": "close"},
    )


class BodyLimit:
    """`app` (an ASGI app or a Starlette request handler) behind a streaming body cap."""

    def __init__(self, app: ASGIApp | Handler, max_bytes: int) -> None:
        if inspect.isfunction(app) or inspect.ismethod(app):
            self.app = request_response(cast(Handler, app))
        else:
            self.app = cast(ASGIApp, app)
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.max_bytes
        if _declared_too_large(Headers(scope=scope), max_bytes):
            await too_large_response(BodyTooLarge(max_bytes))(scope, receive, send)
            return
        received = 0
        started = False

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLarge(max_bytes)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, capped_receive, watched_send)
        except BodyTooLarge as error:
            if started:
                raise
            await too_large_response(error)(scope, receive, send)
