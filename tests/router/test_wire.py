"""The router's server protocol (router/wire.py): the same bytes on the wire as uvicorn's
httptools protocol with the ASGI app, for the requests it answers directly and for those it
hands on; pipelined requests answered in order; crashes answered as Starlette does."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest
import uvicorn
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response

from router.bootstrap import create_app
from router.wire import DirectPost, _vary_origin
from tests.router.conftest import Stack, _router

QUERY = b'{"query":"{ me { name } }"}'
ORIGIN = "https://app.coursegraph.test"
DATE = re.compile(rb"\r\ndate: [^\r]*")


def post(body: bytes = QUERY, *headers: str, path: str = "/graphql", version: str = "1.1") -> bytes:
    lines = [
        f"POST {path} HTTP/{version}",
        "host: router.test",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "x-request-id: fixed",
        *headers,
    ]
    return "\r\n".join(lines).encode() + b"\r\n\r\n" + body


def get(path: str, *headers: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "host: router.test", "x-request-id: fixed", *headers]
    return "\r\n".join(lines).encode() + b"\r\n\r\n"


@contextmanager
def served(app: Any, http: str) -> Iterator[int]:
    config = uvicorn.Config(
        app, http=http, log_config=None, access_log=False, lifespan="on", proxy_headers=False
    )
    server = uvicorn.Server(config)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def exchange(port: int, data: bytes, responses: int = 1) -> bytes:
    """Send `data` at once; what comes back until `responses` responses or the connection
    closes (each response has a content-length)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(data)
        received = b""
        while received.count(b"HTTP/1.1 ") < responses or not _complete(received, responses):
            chunk = conn.recv(65536)
            if not chunk:
                break
            received += chunk
        return DATE.sub(b"", received)


def _complete(received: bytes, responses: int) -> bool:
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
    def __init__(self, direct: DirectPost) -> None:
        self.direct = direct
        self.calls = 0

    async def __call__(self, request: Request, body: bytes) -> Response:
        self.calls += 1
        return await self.direct.answer(request, body)


@pytest.fixture(scope="module")
def apps(stack: Stack) -> Iterator[tuple[int, int, Counted, int, Counted]]:
    """Ports of the same router app served by uvicorn's protocol and by ours, and of a
    router with CORS served by ours, with counters of direct answers."""
    plain = create_app(_router("basic", stack.subgraph_url))
    counted = Counted(plain.state.direct_post)
    plain.state.direct_post = replace(plain.state.direct_post, answer=counted)
    cors = create_app(
        _router("basic", stack.subgraph_url, cors={"enabled": True, "origins": [ORIGIN]})
    )
    cors_counted = Counted(cors.state.direct_post)
    cors.state.direct_post = replace(cors.state.direct_post, answer=cors_counted)
    with (
        served(plain, "httptools") as uvicorn_port,
        served(plain, "router.wire:RouterProtocol") as wire_port,
        served(cors, "router.wire:RouterProtocol") as cors_port,
    ):
        yield uvicorn_port, wire_port, counted, cors_port, cors_counted


DIRECT = {
    "query": post(),
    "query string": post(QUERY, path="/graphql?x=1"),
    "parse failure": post(b'{"query":"{ me { "}'),
    "not JSON": post(b"{nope"),
    "not an object": post(b"[]"),
    "empty body": post(b""),
    "errors": post(b'{"query":"{ me { nope } }"}'),
}
HANDED_ON = {
    "GET": get("/graphql?query=%7B%20me%20%7B%20name%20%7D%20%7D", "apollo-require-preflight: 1"),
    "health": get("/health"),
    "other path": post(QUERY, path="/graphql/"),
    "too large": post(b" " * 3_000_000 + QUERY),
    "HTTP/1.0": post(QUERY, version="1.0"),
    "connection close": post(QUERY, "connection: close"),
    "multipart accept": post(QUERY, "accept: multipart/mixed;deferSpec=20220824"),
    "chunked": b"POST /graphql HTTP/1.1\r\nhost: router.test\r\nx-request-id: fixed\r\n"
    b"content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    + f"{len(QUERY):x}".encode()
    + b"\r\n"
    + QUERY
    + b"\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("name", DIRECT)
def test_direct_answers_are_uvicorns(apps: tuple[Any, ...], name: str) -> None:
    uvicorn_port, wire_port, counted, *_ = apps
    before = counted.calls
    ours = exchange(wire_port, DIRECT[name])
    assert counted.calls == before + 1  # answered directly
    assert ours == exchange(uvicorn_port, DIRECT[name])
    assert ours.startswith(b"HTTP/1.1 ")


@pytest.mark.parametrize("name", HANDED_ON)
def test_other_requests_go_through_the_app(apps: tuple[Any, ...], name: str) -> None:
    uvicorn_port, wire_port, counted, *_ = apps
    before = counted.calls
    ours = exchange(wire_port, HANDED_ON[name])
    assert counted.calls == before
    assert ours == exchange(uvicorn_port, HANDED_ON[name])
    assert ours.startswith(b"HTTP/1.1 ")


def test_pipelined_requests_keep_their_order(apps: tuple[Any, ...]) -> None:
    uvicorn_port, wire_port, *_ = apps
    requests = [
        post(),
        get("/health"),
        post(b'{"query":"{ me { id } }"}'),
        post(b"{nope"),
        post(),
    ]
    data = b"".join(requests)
    ours = exchange(wire_port, data, len(requests))
    assert ours.count(b"HTTP/1.1 ") == len(requests)
    assert ours == exchange(uvicorn_port, data, len(requests))


def test_keep_alive_connection_serves_many(apps: tuple[Any, ...]) -> None:
    _, wire_port, counted, *_ = apps
    before = counted.calls
    with socket.create_connection(("127.0.0.1", wire_port), timeout=10) as conn:
        for _ in range(3):
            conn.sendall(post())
            received = b""
            while not _complete(received, 1):
                received += conn.recv(65536)
            assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert counted.calls == before + 3


def test_origin_goes_through_cors_when_the_edge_has_it(apps: tuple[Any, ...]) -> None:
    *_, cors_port, cors_counted = apps
    before = cors_counted.calls
    answer = exchange(cors_port, post(QUERY, f"origin: {ORIGIN}"))
    assert cors_counted.calls == before
    assert f"access-control-allow-origin: {ORIGIN}".encode() in answer
    assert exchange(cors_port, post()).startswith(b"HTTP/1.1 200 OK")
    assert cors_counted.calls == before + 1


def test_origin_is_answered_directly_without_cors(stack: Stack) -> None:
    app = create_app(_router("basic", stack.subgraph_url, cors={"enabled": False}))
    counted = Counted(app.state.direct_post)
    app.state.direct_post = replace(app.state.direct_post, answer=counted)
    request = post(QUERY, f"origin: {ORIGIN}")
    with (
        served(app, "httptools") as uvicorn_port,
        served(app, "router.wire:RouterProtocol") as wire_port,
    ):
        answer = exchange(wire_port, request)
        assert answer == exchange(uvicorn_port, request)
    assert counted.calls == 1
    assert b"vary" not in answer


@pytest.mark.parametrize(
    "headers",
    [
        [(b"content-type", b"application/json")],
        [(b"vary", b"Accept"), (b"content-type", b"application/json")],
        [(b"vary", b"Accept"), (b"x", b"1"), (b"vary", b"Cookie")],
    ],
)
def test_vary_origin_is_corsmiddlewares(headers: list[tuple[bytes, bytes]]) -> None:
    message: dict[str, Any] = {"type": "http.response.start", "headers": list(headers)}
    starlette = MutableHeaders(scope=message)
    starlette["Vary"] = ", ".join([*starlette.getlist("Vary"), "Origin"])
    assert _vary_origin(headers) == message["headers"]


def test_a_crash_answers_starlettes_500_and_closes(stack: Stack) -> None:
    async def crash(request: Request, body: bytes) -> Response:
        raise RuntimeError("boom")

    app = create_app(_router("basic", stack.subgraph_url))
    app.state.direct_post = replace(app.state.direct_post, answer=crash)
    with served(app, "router.wire:RouterProtocol") as port:
        # The second request is never answered: the connection closes after the 500.
        answer = exchange(port, post() + post(), 2)
    assert answer == (
        b"HTTP/1.1 500 Internal Server Error\r\nserver: uvicorn\r\n"
        b"content-length: 21\r\ncontent-type: text/plain; charset=utf-8\r\n\r\n"
        b"Internal Server Error"
    )
