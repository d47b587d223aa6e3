"""Raw HTTP/1.1 on a socket, for the server protocol's tests (coursegraph/wire.py): the
same request to an app served by uvicorn's protocol and by ours, the bytes compared."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from coursegraph.testing import ServerThread
from coursegraph.wire import DirectPost

UVICORN = "httptools"
DIRECT = "coursegraph.wire:DirectProtocol"
DATE = re.compile(rb"\r\ndate: [^\r]*")


def post(
    body: bytes,
    *headers: str,
    path: str = "/graphql",
    version: str = "1.1",
    host: str = "router.test",
) -> bytes:
    lines = [
        f"POST {path} HTTP/{version}",
        f"host: {host}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "x-request-id: fixed",
        *headers,
    ]
    return "\r\n".join(lines).encode() + b"\r\n\r\n" + body


def get(path: str, *headers: str, host: str = "router.test") -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"host: {host}", "x-request-id: fixed", *headers]
    return "\r\n".join(lines).encode() + b"\r\n\r\n"


@contextmanager
def served(app: Any, http: str) -> Iterator[int]:
    """The port of `app` served with uvicorn's HTTP protocol `http`."""
    with ServerThread(app, http=http) as server:
        yield server.port


def exchange(port: int, data: bytes, responses: int = 1) -> bytes:
    """Send `data` at once; what comes back until `responses` responses or the connection
    closes (each response has a content-length), without the `date` header."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(data)
        received = b""
        while received.count(b"HTTP/1.1 ") < responses or not complete(received, responses):
            chunk = conn.recv(65536)
            if not chunk:
                break
            received += chunk
        return DATE.sub(b"", received)


def complete(received: bytes, responses: int) -> bool:
    """Whether `received` holds `responses` whole responses."""
    rest = received
    for _ in range(responses):
        head, sep, rest = rest.partition(b"\r\n\r\n")
        if not sep:
            return False
        length = re.search(rb"content-length: (\d+)", head)
        if length is None or len(rest) < int(length[1]):
            return False
        rest = rest[int(length[1]) :]
    return True


class Counted:
    """An app's direct answer, counted: how many requests the protocol answered itself."""

    def __init__(self, direct: DirectPost) -> None:
        self.direct = direct
        self.calls = 0

    async def __call__(self, request: Request, body: bytes) -> Response:
        self.calls += 1
        return await self.direct.answer(request, body)
