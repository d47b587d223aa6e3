"""A subgraph served by the server protocol (coursegraph/wire.py): for every kind of POST it
answers itself — signed, refused by the gate, declined by the fast path and answered by
Strawberry — the same bytes on the wire as uvicorn's httptools protocol with the ASGI app;
everything else handed on to the app; pipelined requests answered in order. The router's
own cases: tests/router/test_wire.py."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from starlette.datastructures import MutableHeaders

from coursegraph.app import create_subgraph_app
from coursegraph.caller_gate import CREDENTIAL_HEADER
from coursegraph.service_auth import ServiceSigner
from coursegraph.settings import Settings
from coursegraph.wire import _vary_origin
from tests.helpers import signer_for
from tests.kernel.test_federation import _spec
from tests.wire import DIRECT, UVICORN, Counted, complete, exchange, get, post, served

HOST = "courses.test"
MAX_BODY = 1000
QUERY = b'{"query":"{ fine }"}'


def signed(
    body: bytes = QUERY,
    *headers: str,
    path: str = "/graphql",
    signer: ServiceSigner | None = None,
    timestamp: int | None = None,
    signed_body: bytes | None = None,
) -> bytes:
    """A POST signed as the router (or `signer`) over `signed_body` (default: `body`)."""
    signer = signer or signer_for("router")
    signature = signer.headers(
        "POST", path, body if signed_body is None else signed_body, timestamp=timestamp
    )
    lines = [f"{name}: {value}" for name, value in signature.items()]
    return post(body, *lines, *headers, path=path, host=HOST)


@pytest.fixture(scope="module")
def ports(settings: Settings) -> Iterator[tuple[int, int, Counted]]:
    """The same subgraph served by uvicorn's protocol and by ours (two apps, so each has
    its own nonces: one signed request is fresh to both), and the counter of the requests
    ours answered without ASGI."""
    limited = settings.model_copy(update={"subgraph_max_body_bytes": MAX_BODY})
    theirs = create_subgraph_app(_spec(), limited)
    ours = create_subgraph_app(_spec(), limited)
    counted = Counted(ours.state.direct_post)
    ours.state.direct_post = replace(ours.state.direct_post, answer=counted)
    with served(theirs, UVICORN) as uvicorn_port, served(ours, DIRECT) as direct_port:
        yield uvicorn_port, direct_port, counted


def same_on_both(ports: tuple[int, int, Counted], data: bytes, responses: int = 1) -> bytes:
    uvicorn_port, direct_port, _ = ports
    ours = exchange(direct_port, data, responses)
    assert ours == exchange(uvicorn_port, data, responses)
    assert ours.count(b"HTTP/1.1 ") == responses
    return ours


ANSWERED = {
    "signed query": (lambda: signed(), b"200 OK"),
    "signed, query string": (lambda: signed(path="/graphql?op=fine"), b"200 OK"),
    # Subgraphs stream over WebSocket only: Strawberry answers SSE's Accept with JSON.
    "signed, Accept SSE": (lambda: signed(QUERY, "accept: text/event-stream"), b"200 OK"),
    "signed, resolver error": (lambda: signed(b'{"query":"{ missing }"}'), b"NOT_FOUND"),
    "signed, field not for this caller": (
        lambda: signed(b'{"query":"{ secret }"}'),
        b"FORBIDDEN",
    ),
    "unsigned": (lambda: post(QUERY, host=HOST), b"401 Unauthorized"),
    "bad signature": (
        lambda: signed(signer=ServiceSigner("router", b"wrong")),
        b"bad service signature",
    ),
    "unknown router credential": (
        lambda: post(QUERY, f"{CREDENTIAL_HEADER}: {'x' * 32}", host=HOST),
        b"Router credential refused",
    ),
    "stale timestamp": (lambda: signed(timestamp=int(time.time()) - 3600), b"401"),
    "body changed after signing": (
        lambda: signed(b'{"query":"{ secret }"}', signed_body=QUERY),
        b"401",
    ),
    "batch": (lambda: signed(b"[" + QUERY + b"," + QUERY + b"]"), b"400 Bad Request"),
    "not JSON": (lambda: signed(b"{nope"), b"400 Bad Request"),
    "query not a string": (lambda: signed(b'{"query":1}'), b"400 Bad Request"),
    "not a JSON content type": (
        lambda: signed(QUERY).replace(b"application/json", b"text/plain", 1),
        b"400 Bad Request",
    ),
}


@pytest.mark.parametrize("name", ANSWERED)
def test_direct_answers_are_uvicorns(ports: tuple[int, int, Counted], name: str) -> None:
    request, expected = ANSWERED[name]
    counted = ports[2]
    before = counted.calls
    answer = same_on_both(ports, request())
    assert counted.calls == before + 1  # answered without ASGI
    assert expected in answer


HANDED_ON = {
    "GET": lambda: get("/graphql?query=%7B%20fine%20%7D", host=HOST),
    "health": lambda: get("/health", host=HOST),
    "too large": lambda: signed(b" " * MAX_BODY + QUERY),
    "HTTP/1.0": lambda: signed().replace(b"HTTP/1.1", b"HTTP/1.0", 1),
    "connection close": lambda: signed(QUERY, "connection: close"),
}


@pytest.mark.parametrize("name", HANDED_ON)
def test_other_requests_go_through_the_app(ports: tuple[int, int, Counted], name: str) -> None:
    counted = ports[2]
    before = counted.calls
    same_on_both(ports, HANDED_ON[name]())
    assert counted.calls == before


def test_too_large_is_refused_before_the_gate(ports: tuple[int, int, Counted]) -> None:
    answer = same_on_both(ports, post(b" " * MAX_BODY + QUERY, host=HOST))
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"PAYLOAD_TOO_LARGE" in answer


def test_a_replayed_nonce_is_refused(ports: tuple[int, int, Counted]) -> None:
    once = signed()
    answer = same_on_both(ports, once + once, 2)
    first, second = answer.split(b"HTTP/1.1 ")[1:]
    assert first.startswith(b"200 OK")
    assert second.startswith(b"401 ")
    assert b"nonce" in second


def test_pipelined_requests_keep_their_order(ports: tuple[int, int, Counted]) -> None:
    requests = [
        signed(),
        get("/health", host=HOST),
        signed(b'{"query":"{ missing }"}'),
        post(QUERY, host=HOST),
        signed(b"[]"),
        signed(),
    ]
    same_on_both(ports, b"".join(requests), len(requests))


def test_keep_alive_connection_serves_many(ports: tuple[int, int, Counted]) -> None:
    _, direct_port, counted = ports
    before = counted.calls
    with socket.create_connection(("127.0.0.1", direct_port), timeout=10) as conn:
        for _ in range(3):
            conn.sendall(signed())
            received = b""
            while not complete(received, 1):
                received += conn.recv(65536)
            assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert counted.calls == before + 3


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
