"""The HTTP/1.1 server protocol of the router and every subgraph: uvicorn's httptools
protocol with the hot path, POST /graphql, answered without ASGI.

Per request, uvicorn's protocol builds a request-response cycle (an asyncio.Event, ASGI
message dicts for the body and for each part of the response, two writes) and Starlette
wraps the endpoint in its error middleware, routing, the app's middleware and a Request
whose body is read through `receive`. For a plain GraphQL POST none of that has an effect:
this protocol collects the body as it is parsed, calls the app's endpoint with it and
writes the response, headers and body, in one write.

Only a request that the ASGI app would answer the same way takes this path (`_direct`):
POST /graphql over HTTP/1.1 on a keep-alive connection, with a Content-Length within the
body limit, without `Expect`, without an Accept that the app streams an answer to (SSE,
multipart) and, when the app has ASGI middleware (CORS), without `Origin`. Everything
else — other methods and paths, WebSocket upgrades, GraphiQL, streams, oversized or chunked
bodies, CORS — goes through uvicorn's cycle to the app unchanged. Responses carry uvicorn's
default headers (`date`, `server`), and an endpoint crash answers Starlette's 500 and closes
the connection, as ServerErrorMiddleware and uvicorn do. Pipelined requests keep their
order: a direct request is a cycle in uvicorn's pipeline like any other.

The app opts in by putting a `DirectPost` in its state (`app.state.direct_post`: the
router's router/server.py, every subgraph's coursegraph/app.py); an app without one is
served exactly as by uvicorn. `serving.run` serves every app with this protocol.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httptools
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Message, Receive
from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
)

PATH = b"/graphql"
# Starlette's ServerErrorMiddleware answer to a crash (debug off).
CRASH = PlainTextResponse("Internal Server Error", status_code=500)
log = logging.getLogger("uvicorn.error")


@dataclass(frozen=True, slots=True)
class DirectPost:
    """What the protocol needs of the app: the endpoint's work after the body is read (the
    request's body can be read again through the request), the body limit (larger bodies
    get the endpoint's 413 through the app), whether the app has Starlette's CORSMiddleware
    (its only middleware besides the error layer) — which answers requests with `Origin`,
    and adds `Vary: Origin` to the others' responses — and which Accept headers the app
    answers with a stream, which this protocol leaves to uvicorn's cycle."""

    answer: Callable[[Request, bytes], Awaitable[Response]]
    max_body: int
    cors: bool
    streams: Callable[[str], bool]


class DirectProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        state = getattr(self.app, "state", None)
        direct = getattr(state, "direct_post", None)
        # uvicorn's own features that need its cycle: an access log that writes, a
        # concurrency limit, a root path.
        logs = self.access_log and self.access_logger.isEnabledFor(logging.INFO)
        usable = not logs and self.limit_concurrency is None and not self.root_path
        self.direct: DirectPost | None = direct if usable else None
        self.direct_cycle: DirectCycle | None = None

    def on_headers_complete(self) -> None:
        direct = self.direct
        if direct is None or not self._direct(direct):
            self.direct_cycle = None
            super().on_headers_complete()
            return
        scope = self.scope
        scope["method"] = "POST"
        parsed = httptools.parse_url(self.url)
        scope["path"] = "/graphql"
        scope["raw_path"] = PATH
        scope["query_string"] = parsed.query or b""
        cycle = DirectCycle(self, direct, scope, self.cycle)
        self.direct_cycle = cycle
        self.cycle = cycle  # type: ignore[assignment]

    def _direct(self, direct: DirectPost) -> bool:
        parser = self.parser
        if (
            parser.get_method() != b"POST"
            or parser.get_http_version() != "1.1"
            or not parser.should_keep_alive()
            or parser.should_upgrade()
            or self.expect_100_continue
        ):
            return False
        url = self.url
        if url != PATH and not (url.startswith(PATH) and url[len(PATH)] == 63):  # "?"
            return False
        length = -1
        for name, value in self.headers:
            if name == b"content-length":
                if not value.isdigit():
                    return False
                length = int(value)
            elif name == b"accept":
                if direct.streams(value.decode("latin-1")):
                    return False
            elif (name == b"origin" and direct.cors) or name == b"transfer-encoding":
                return False
        return 0 <= length <= direct.max_body

    def on_body(self, body: bytes) -> None:
        cycle = self.direct_cycle
        if cycle is None:
            super().on_body(body)
        else:
            cycle.parts.append(body)

    def on_message_complete(self) -> None:
        cycle = self.direct_cycle
        if cycle is None:
            super().on_message_complete()
            return
        self.direct_cycle = None
        previous = cycle.previous
        cycle.previous = None
        if previous is None or previous.response_complete:
            self._start_asgi_task(cycle, self.app)  # type: ignore[arg-type]
        else:
            # Behind a request still being answered: uvicorn's pipeline keeps the order.
            self.flow.pause_reading()
            self.pipeline.appendleft((cycle, self.app))  # type: ignore[arg-type]


class DirectCycle:
    """One direct request: the attributes of uvicorn's RequestResponseCycle that its
    protocol reads (`response_complete`, `disconnected`, `keep_alive`, `message_event`),
    and `run_asgi`, which the protocol starts as for any cycle."""

    def __init__(
        self, protocol: DirectProtocol, direct: DirectPost, scope: Any, previous: Any
    ) -> None:
        self.protocol = protocol
        self.direct = direct
        self.scope = scope
        self.previous = previous
        self.parts: list[bytes] = []
        self.response_complete = False
        self.disconnected = False
        self.keep_alive = True
        # Set by the protocol when the client goes away; nothing waits on it here.
        self.message_event = _NoEvent

    async def run_asgi(self, app: object) -> None:
        protocol = self.protocol
        parts = self.parts
        body = parts[0] if len(parts) == 1 else b"".join(parts)
        self.parts = []
        try:
            response = await self.direct.answer(Request(self.scope, _receive(body)), body)
        except Exception as exc:
            log.error("Exception in ASGI application\n", exc_info=exc)
            self._write(500, CRASH.raw_headers, CRASH.body)
            self.keep_alive = False
        else:
            headers = response.raw_headers
            if self.direct.cors:
                headers = _vary_origin(headers)
            if not self._write(response.status_code, headers, response.body):
                self.keep_alive = False
        self.response_complete = True
        transport = protocol.transport
        if not self.keep_alive and not transport.is_closing():
            transport.close()
        protocol.on_response_complete()

    def _write(self, status: int, headers: Any, body: bytes | memoryview) -> bool:
        """Status line, headers and body in one write, checked as uvicorn checks them;
        False when not written (a client gone, or a header uvicorn refuses)."""
        transport = self.protocol.transport
        if self.disconnected or transport.is_closing():
            return False
        closing = False
        content: list[bytes | memoryview] = [STATUS_LINE[status]]
        for name, value in self.protocol.server_state.default_headers:
            content += (name, b": ", value, b"\r\n")
        for name, value in headers:
            if HEADER_RE.search(name) or HEADER_VALUE_RE.search(value):
                # uvicorn refuses it when the response starts: nothing is sent.
                log.error("Invalid HTTP header in the response: %r", name)
                return False
            if name == b"connection" and b"close" in value.lower():
                closing = True
            content += (name, b": ", value, b"\r\n")
        if not self.keep_alive and not closing:
            # uvicorn's shutdown asked this connection to close after the response.
            content.append(b"connection: close\r\n")
        content += (b"\r\n", body)
        transport.write(b"".join(content))
        return not closing


def _receive(body: bytes) -> Receive:
    """The request's body as the ASGI app would receive it, then the end of the request
    (uvicorn's `http.disconnect` once a response is complete): an answer is written only
    after `answer` returns, and nothing here waits on the connection."""
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _vary_origin(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """What CORSMiddleware does to a response to a request without `Origin`: `Origin`
    joins the `Vary` values, in the first `Vary` header (MutableHeaders' assignment)."""
    varies = [value for name, value in headers if name == b"vary"]
    if not varies:
        return [*headers, (b"vary", b"Origin")]
    joined = b", ".join([*varies, b"Origin"])
    out: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        if name != b"vary":
            out.append((name, value))
        elif varies:
            out.append((name, joined))
            varies = []
    return out


class _Unset:
    def set(self) -> None:
        return None


_NoEvent = _Unset()
