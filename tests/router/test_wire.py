"""The router served by the server protocol (coursegraph/wire.py): the same bytes on the
wire as uvicorn's httptools protocol with the ASGI app, for the requests it answers directly
and for those it hands on; pipelined requests answered in order; crashes answered as
Starlette does."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response

from router.bootstrap import create_app
from tests.router.conftest import Stack, _router
from tests.wire import DIRECT, UVICORN, Counted, complete, exchange, get, post, served

QUERY = b'{"query":"{ me { name } }"}'
ORIGIN = "https://app.coursegraph.test"


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
        served(plain, UVICORN) as uvicorn_port,
        served(plain, DIRECT) as wire_port,
        served(cors, DIRECT) as cors_port,
    ):
        yield uvicorn_port, wire_port, counted, cors_port, cors_counted


ANSWERED = {
    "query": post(QUERY),
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


@pytest.mark.parametrize("name", ANSWERED)
def test_direct_answers_are_uvicorns(apps: tuple[Any, ...], name: str) -> None:
    uvicorn_port, wire_port, counted, *_ = apps
    before = counted.calls
    ours = exchange(wire_port, ANSWERED[name])
    assert counted.calls == before + 1  # answered directly
    assert ours == exchange(uvicorn_port, ANSWERED[name])
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
        post(QUERY),
        get("/health"),
        post(b'{"query":"{ me { id } }"}'),
        post(b"{nope"),
        post(QUERY),
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
            conn.sendall(post(QUERY))
            received = b""
            while not complete(received, 1):
                received += conn.recv(65536)
            assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert counted.calls == before + 3


def test_origin_goes_through_cors_when_the_edge_has_it(apps: tuple[Any, ...]) -> None:
    *_, cors_port, cors_counted = apps
    before = cors_counted.calls
    answer = exchange(cors_port, post(QUERY, f"origin: {ORIGIN}"))
    assert cors_counted.calls == before
    assert f"access-control-allow-origin: {ORIGIN}".encode() in answer
    assert exchange(cors_port, post(QUERY)).startswith(b"HTTP/1.1 200 OK")
    assert cors_counted.calls == before + 1


def test_origin_is_answered_directly_without_cors(stack: Stack) -> None:
    app = create_app(_router("basic", stack.subgraph_url, cors={"enabled": False}))
    counted = Counted(app.state.direct_post)
    app.state.direct_post = replace(app.state.direct_post, answer=counted)
    request = post(QUERY, f"origin: {ORIGIN}")
    with (
        served(app, UVICORN) as uvicorn_port,
        served(app, DIRECT) as wire_port,
    ):
        answer = exchange(wire_port, request)
        assert answer == exchange(uvicorn_port, request)
    assert counted.calls == 1
    assert b"vary" not in answer


def test_a_crash_answers_starlettes_500_and_closes(stack: Stack) -> None:
    async def crash(request: Request, body: bytes) -> Response:
        raise RuntimeError("boom")

    app = create_app(_router("basic", stack.subgraph_url))
    app.state.direct_post = replace(app.state.direct_post, answer=crash)
    with served(app, DIRECT) as port:
        # The second request is never answered: the connection closes after the 500.
        answer = exchange(port, post(QUERY) + post(QUERY), 2)
    assert answer == (
        b"HTTP/1.1 500 Internal Server Error\r\nserver: uvicorn\r\n"
        b"content-length: 21\r\ncontent-type: text/plain; charset=utf-8\r\n\r\n"
        b"Internal Server Error"
    )
