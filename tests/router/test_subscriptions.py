"""Subscriptions through the router, end to end: real Strawberry subgraphs serving
graphql-transport-ws behind ws-contract's signed gate (tests/router/live_subgraphs.py),
the router on uvicorn, clients speaking each protocol with well-kept libraries
(`websockets`, `httpx` streaming)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from coursegraph.identity import JWKSCache, TokenVerifier
from coursegraph.service_auth import MemoryNonceStore, ServiceVerifier
from coursegraph.testing import ServerThread
from router.bootstrap import build_router, create_app
from router.composition import SubgraphSource, compose
from router.config import RouterConfig
from router.edge.authentication import EdgeAuthenticator
from router.service import Router
from router.supergraph import Supergraph
from tests.e2e.browser import devtools
from tests.router import live_subgraphs
from tests.router.conftest import (
    SETTINGS,
    TOKEN_AUDIENCE,
    TOKEN_ISSUER,
    Stack,
    _static_jwks,
    make_token,
)
from tests.router.live_subgraphs import BROKER, ORDERS, Gate
from tests.router.test_defer import CONTENT_TYPE, parts

PROTOCOL = Subprotocol("graphql-transport-ws")
SUBSCRIPTION = """subscription($id: ID!) { orderUpdated(orderId: $id) {
  id status item { title } } }"""
# Only the orders subgraph's fields.
ORDER_STATUS = "subscription($id: ID!) { orderUpdated(orderId: $id) { status } }"
SSE = "text/event-stream"
MULTIPART = 'multipart/mixed;subscriptionSpec="1.0"'
SET_STATUS = "mutation($id: ID!, $s: String!) { setOrderStatus(id: $id, status: $s) { status } }"
MAX_PER_CLIENT = 3


def _tokens() -> TokenVerifier:
    return TokenVerifier(
        JWKSCache(_static_jwks), algorithm="RS256", issuer=TOKEN_ISSUER, audience=TOKEN_AUDIENCE
    )


def _gate_verifier() -> ServiceVerifier:
    return ServiceVerifier({"router": SETTINGS.service_key("router")}, MemoryNonceStore())


@dataclass
class Live:
    router_url: str
    orders: ServerThread
    orders_gate: Gate
    catalog_url: str

    @property
    def ws_url(self) -> str:
        return self.router_url.replace("http://", "ws://") + "/graphql"

    def mutate(self, order_id: str, status: str) -> None:
        token = make_token(sub=ORDERS[order_id]["owner"])
        answer = httpx.post(
            f"{self.router_url}/graphql",
            json={"query": SET_STATUS, "variables": {"id": order_id, "s": status}},
            headers={"authorization": f"Bearer {token}"},
        ).json()
        assert answer == {"data": {"setOrderStatus": {"status": status}}}, answer

    def restart_orders(self) -> None:
        port = self.orders.port
        self.orders.stop()
        self.orders = ServerThread(self.orders_gate, port=port).start()


def _router_app(orders_url: str, catalog_url: str, **config: Any) -> Any:
    return create_app(
        _router(orders_url, catalog_url, **config), authenticator=EdgeAuthenticator(_tokens())
    )


def _router(orders_url: str, catalog_url: str, **config: Any) -> Router:
    composed = compose(
        [
            SubgraphSource("orders", orders_url, live_subgraphs.ORDERS_SCHEMA.as_str()),
            SubgraphSource("catalog", catalog_url, live_subgraphs.CATALOG_SCHEMA.as_str()),
        ]
    ).raise_for_errors()
    return build_router(
        Supergraph(composed),
        RouterConfig.model_validate(
            {
                "limits": {"cost_extension": False},
                "subscriptions": {"max_per_client": MAX_PER_CLIENT, "heartbeat_seconds": 0.2},
                **config,
            }
        ),
        SETTINGS,
    )


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    gate = live_subgraphs.orders_app(_gate_verifier(), _tokens())
    orders = ServerThread(gate).start()
    catalog = ServerThread(live_subgraphs.catalog_app(_gate_verifier(), _tokens())).start()
    app = _router_app(f"{orders.url}/graphql", f"{catalog.url}/graphql")
    router = ServerThread(app).start()
    state = Live(router.url, orders, gate, f"{catalog.url}/graphql")
    yield state
    router.stop()
    state.orders.stop()
    catalog.stop()


@pytest.fixture(autouse=True)
def fresh_orders() -> None:
    for order in ORDERS.values():
        order["status"] = "PENDING"


async def _ws(live: Live, token: str | None = None, **init: Any) -> ClientConnection:
    return await _ws_at(live.ws_url, token, **init)


async def _ws_at(url: str, token: str | None = None, **init: Any) -> ClientConnection:
    """A graphql-transport-ws socket to `url`, initialised (with `token`) and acknowledged."""
    socket_ = await connect(url, subprotocols=[PROTOCOL])
    payload = {"Authorization": f"Bearer {token}"} if token else {}
    await socket_.send(
        orjson.dumps({"type": "connection_init", "payload": {**payload, **init}}).decode()
    )
    ack = orjson.loads(await socket_.recv())
    assert ack == {"type": "connection_ack"}
    return socket_


async def _receive(socket_: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = orjson.loads(await asyncio.wait_for(socket_.recv(), 10))
    return message


async def _subscribe(
    socket_: ClientConnection, op_id: str, order_id: str, query: str = SUBSCRIPTION
) -> None:
    message = {
        "id": op_id,
        "type": "subscribe",
        "payload": {"query": query, "variables": {"id": order_id}},
    }
    await socket_.send(orjson.dumps(message).decode())


async def _until_listening(count: int) -> None:
    """Wait until the subgraph holds `count` subscriptions (a change published before the
    subgraph listens would be missed, as in any pub/sub)."""
    deadline = time.monotonic() + 10
    while BROKER.open < count:
        assert time.monotonic() < deadline, f"{BROKER.open} subscriptions open, not {count}"
        await asyncio.sleep(0.02)


async def _in_thread(fn: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


async def test_websocket_events_take_fields_from_two_subgraphs(live: Live) -> None:
    socket_ = await _ws(live, make_token(sub="u1"))
    await _subscribe(socket_, "a", "o1")
    first = await _receive(socket_)
    # The current state first: status from orders, item.title from catalog (entity fetch).
    assert first == {
        "id": "a",
        "type": "next",
        "payload": {
            "data": {
                "orderUpdated": {
                    "id": "o1",
                    "status": "PENDING",
                    "item": {"title": "Federation course"},
                }
            }
        },
    }
    await _until_listening(1)
    await _in_thread(live.mutate, "o1", "PAID")
    second = await _receive(socket_)
    assert second["payload"]["data"]["orderUpdated"]["status"] == "PAID"
    assert second["payload"]["data"]["orderUpdated"]["item"] == {"title": "Federation course"}
    await _in_thread(live.mutate, "o1", "DONE")
    assert (await _receive(socket_))["payload"]["data"]["orderUpdated"]["status"] == "DONE"
    # The subgraph completed the stream: so does the router.
    assert await _receive(socket_) == {"id": "a", "type": "complete"}
    await socket_.close()
    # The upgrade to the subgraph was signed as the router and carried the client's token.
    upgrade = live.orders_gate.upgrades[-1]
    assert upgrade["x-service-name"] == "router"
    assert upgrade["authorization"].startswith("Bearer ")
    assert upgrade["sec-websocket-protocol"] == "graphql-transport-ws"


async def test_requires_takes_each_events_own_state(live: Live) -> None:
    query = "subscription($id: ID!) { orderUpdated(orderId: $id) { label } }"
    socket_ = await _ws(live, make_token(sub="u1"))
    await _subscribe(socket_, "a", "o1", query)
    first = (await _receive(socket_))["payload"]
    assert first == {"data": {"orderUpdated": {"label": "i1:pending"}}}
    await _until_listening(1)
    await _in_thread(live.mutate, "o1", "PAID")
    second = (await _receive(socket_))["payload"]
    assert second == {"data": {"orderUpdated": {"label": "i1:paid"}}}
    await socket_.close()


async def test_websocket_client_complete_ends_the_upstream_subscription(live: Live) -> None:
    socket_ = await _ws(live, make_token(sub="u1"))
    await _subscribe(socket_, "a", "o1")
    assert (await _receive(socket_))["type"] == "next"
    await _until_listening(1)
    await socket_.send(orjson.dumps({"id": "a", "type": "complete"}).decode())
    deadline = time.monotonic() + 10
    while BROKER.open:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    await socket_.send(orjson.dumps({"type": "ping"}).decode())
    assert await _receive(socket_) == {"type": "pong"}
    await socket_.close()


async def test_websocket_refusals(live: Live) -> None:
    # No token: the router's @authenticated refuses before any subgraph is asked.
    socket_ = await _ws(live)
    await _subscribe(socket_, "a", "o1")
    refused = await _receive(socket_)
    assert refused["type"] == "error"
    assert refused["id"] == "a"
    assert refused["payload"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    await socket_.close()
    # Someone else's order: the subgraph refuses at subscribe time (NOT_FOUND).
    socket_ = await _ws(live, make_token(sub="u2"))
    await _subscribe(socket_, "b", "o1")
    refused = await _receive(socket_)
    assert refused["type"] in ("error", "next"), refused
    errors = refused["payload"] if refused["type"] == "error" else refused["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"
    await socket_.close()
    # A bad token at connect: the socket closes with 4403 before any operation.
    socket_ = await connect(live.ws_url, subprotocols=[PROTOCOL])
    await socket_.send(
        orjson.dumps(
            {"type": "connection_init", "payload": {"authorization": "Bearer nope"}}
        ).decode()
    )
    with pytest.raises(ConnectionClosed) as closed:
        await _receive(socket_)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


async def test_a_token_that_no_header_can_carry_closes_the_socket(live: Live) -> None:
    socket_ = await connect(live.ws_url, subprotocols=[PROTOCOL])
    init = {
        "type": "connection_init",
        "payload": {"Authorization": "Bearer x\r\nX-Service-Name: router"},
    }
    await socket_.send(orjson.dumps(init).decode())
    with pytest.raises(ConnectionClosed) as closed:
        await _receive(socket_)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4400


async def test_websocket_without_the_subprotocol_is_refused(live: Live) -> None:
    with pytest.raises(Exception, match="403"):
        await connect(live.ws_url)


async def test_authorization_directives_apply_to_each_event(live: Live) -> None:
    query = "subscription($id: ID!) { orderUpdated(orderId: $id) { status item { secret } } }"
    socket_ = await _ws(live, make_token(sub="u1"))
    await _subscribe(socket_, "a", "o1", query)
    first = (await _receive(socket_))["payload"]
    assert first["data"] == {"orderUpdated": {"status": "PENDING", "item": {"secret": None}}}
    assert [e["extensions"]["code"] for e in first["errors"]] == ["FORBIDDEN"]
    await socket_.close()
    socket_ = await _ws(live, make_token(sub="u1", scope="catalog:secret"))
    await _subscribe(socket_, "a", "o1", query)
    assert (await _receive(socket_))["payload"] == {
        "data": {"orderUpdated": {"status": "PENDING", "item": {"secret": "s1"}}}
    }
    await socket_.close()


@asynccontextmanager
async def _stream(
    url: str, token: str, accept: str = SSE, query: str = SUBSCRIPTION
) -> AsyncIterator[httpx.Response]:
    """A subscription to order o1 over SSE or multipart HTTP, signed in with `token`."""
    async with (
        httpx.AsyncClient(timeout=10) as client,
        client.stream(
            "POST",
            f"{url}/graphql",
            json={"query": query, "variables": {"id": "o1"}},
            headers={"accept": accept, "authorization": f"Bearer {token}"},
        ) as response,
    ):
        yield response


async def _sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    event = None
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            event = line[len("event: ") :]
        elif line.startswith("data:") and event is not None:
            data = line[len("data:") :].strip()
            yield event, orjson.loads(data) if data else None
            event = None


async def test_sse_stream(live: Live) -> None:
    token = make_token(sub="u1")
    async with _stream(live.router_url, token) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-request-id"]
        events = _sse_events(response)
        kind, first = await anext(events)
        assert kind == "next"
        assert first["data"]["orderUpdated"]["item"] == {"title": "Federation course"}
        await _until_listening(1)
        await _in_thread(live.mutate, "o1", "DONE")
        assert (await anext(events))[1]["data"]["orderUpdated"]["status"] == "DONE"
        assert await anext(events) == ("complete", None)


async def test_multipart_stream_with_heartbeats(live: Live) -> None:
    token = make_token(sub="u1")
    async with _stream(live.router_url, token, f"{MULTIPART}, application/json") as response:
        assert response.status_code == 200
        assert 'boundary="graphql"' in response.headers["content-type"]
        body = b""
        changed = False
        async for chunk in response.aiter_bytes():
            body += chunk
            if not changed and b'"PENDING"' in body and body.count(b"\r\n\r\n{}") >= 2:
                # Heartbeats keep coming while nothing happens; then a change, the end.
                await _until_listening(1)
                await _in_thread(live.mutate, "o1", "DONE")
                changed = True
    assert body.endswith(b"\r\n--graphql--\r\n")
    parts = [p.split(b"\r\n\r\n", 1)[1] for p in body.split(b"\r\n--graphql")[1:-1]]
    payloads = [orjson.loads(p) for p in parts]
    assert {} in payloads
    statuses = [p["payload"]["data"]["orderUpdated"]["status"] for p in payloads if p]
    assert statuses == ["PENDING", "DONE"]


async def test_subscription_over_plain_json_is_refused(live: Live) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            f"{live.router_url}/graphql",
            json={"query": SUBSCRIPTION, "variables": {"id": "o1"}},
            headers={"authorization": f"Bearer {make_token(sub='u1')}"},
        )
    assert response.status_code == 406
    assert response.json()["errors"][0]["extensions"]["code"] == "INVALID_ACCEPT_HEADER"


async def test_token_expiry_ends_streams(live: Live) -> None:
    expiring = make_token(sub="u1", exp=int(time.time()) + 2)
    socket_ = await _ws(live, expiring)
    await _subscribe(socket_, "a", "o1")
    assert (await _receive(socket_))["type"] == "next"
    with pytest.raises(ConnectionClosed) as closed:
        await _receive(socket_)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4403, "Forbidden: token expired")
    expiring = make_token(sub="u1", exp=int(time.time()) + 2)
    async with _stream(live.router_url, expiring) as response:
        events = [event async for event in _sse_events(response)]
    assert events[0][0] == "next"
    assert "data" in events[0][1]
    assert events[-2][1]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert events[-1] == ("complete", None)


async def test_per_client_cap(live: Live) -> None:
    socket_ = await _ws(live, make_token(sub="u1"))
    for n in range(MAX_PER_CLIENT):
        await _subscribe(socket_, f"s{n}", "o1")
        assert (await _receive(socket_))["type"] == "next"
    await _subscribe(socket_, "over", "o1")
    refused = await _receive(socket_)
    assert refused["type"] == "error"
    assert refused["id"] == "over"
    assert refused["payload"][0]["extensions"]["code"] == "RATE_LIMITED"
    # Ending one frees its place.
    await socket_.send(orjson.dumps({"id": "s0", "type": "complete"}).decode())
    await asyncio.sleep(0.2)
    await _subscribe(socket_, "again", "o1")
    assert (await _receive(socket_))["type"] == "next"
    await socket_.close()


async def test_subgraph_restart_ends_the_stream_and_a_new_subscription_works(live: Live) -> None:
    socket_ = await _ws(live, make_token(sub="u1"))
    await _subscribe(socket_, "a", "o1")
    first = await _receive(socket_)
    assert first["type"] == "next", first  # the message says why, should this fail again
    await _in_thread(live.restart_orders)
    failed = await _receive(socket_)
    assert failed["type"] == "next"
    error = failed["payload"]["errors"][0]
    assert error["extensions"] == {"code": "SERVICE_UNAVAILABLE", "serviceName": "orders"}
    assert await _receive(socket_) == {"id": "a", "type": "complete"}
    await _subscribe(socket_, "a", "o1")
    again = await _receive(socket_)
    assert again["payload"]["data"]["orderUpdated"]["status"] == "PENDING"
    await socket_.close()


async def test_shutdown_ends_streams_cleanly(live: Live) -> None:
    """The router served as in production (uvicorn in the main thread, its signal
    handling): SIGTERM ends an SSE stream with an error event and a WebSocket with 1001,
    and the server stops instead of waiting for the streams."""
    app = _router_app(f"{live.orders.url}/graphql", live.catalog_url)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on"))
    # uvicorn raises the captured signal again once it has stopped: harmless with this.
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, no event
            await asyncio.sleep(0.02)
        url = f"http://127.0.0.1:{port}"
        token = make_token(sub="u1")
        socket_ = await connect(url.replace("http", "ws") + "/graphql", subprotocols=[PROTOCOL])
        await socket_.send(
            orjson.dumps(
                {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
            ).decode()
        )
        assert (await _receive(socket_))["type"] == "connection_ack"
        await _subscribe(
            socket_, "a", "o1", "subscription($id: ID!) { orderUpdated(orderId: $id) { status } }"
        )
        assert (await _receive(socket_))["type"] == "next"
        async with _stream(url, token, query=ORDER_STATUS) as response:
            events = _sse_events(response)
            assert (await anext(events))[0] == "next"
            os.kill(os.getpid(), signal.SIGTERM)
            rest = [event async for event in events]
        assert rest[0][1]["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        assert rest[-1] == ("complete", None)
        with pytest.raises(ConnectionClosed) as closed:
            await _receive(socket_)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1001
        await asyncio.wait_for(serving, 10)
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)
        signal.signal(signal.SIGTERM, previous)


async def test_reload_ends_streams_with_apollos_code(live: Live) -> None:
    """A new schema state (hot reload) ends open streams: their plans are the old
    schema's. Served in this test's event loop, where the reloader would swap it."""
    router = _router(f"{live.orders.url}/graphql", live.catalog_url)
    app = create_app(router, authenticator=EdgeAuthenticator(_tokens()))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, no event
            await asyncio.sleep(0.02)
        token = make_token(sub="u1")
        async with (
            httpx.AsyncClient(timeout=10) as client,
            client.stream(
                "GET",
                f"http://127.0.0.1:{port}/graphql",
                params={"query": 'subscription { orderUpdated(orderId: "o1") { status } }'},
                # A GET has no JSON content type: CSRF prevention wants a preflighted header.
                headers={
                    "accept": "text/event-stream",
                    "authorization": f"Bearer {token}",
                    "apollo-require-preflight": "true",
                },
            ) as response,
        ):
            assert response.status_code == 200
            events = _sse_events(response)
            assert (await anext(events))[1] == {"data": {"orderUpdated": {"status": "PENDING"}}}
            router.swap(router.build_state(router.state.supergraph, router.config))
            rest = [event async for event in events]
        assert rest[0][1]["errors"][0]["extensions"]["code"] == "SUBSCRIPTION_SCHEMA_RELOAD"
        assert rest[-1] == ("complete", None)
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)


async def test_a_client_leaving_releases_its_stream_and_the_upstream(live: Live) -> None:
    token = make_token(sub="u1")
    # One more than the cap, one after another: a stream not released would refuse the last.
    for _ in range(MAX_PER_CLIENT + 1):
        async with _stream(live.router_url, token) as response:
            assert response.status_code == 200
            assert (await anext(_sse_events(response)))[0] == "next"
    # Each left after its first event: none holds a place or a subgraph subscription.
    deadline = time.monotonic() + 10
    while BROKER.open:
        assert time.monotonic() < deadline, f"{BROKER.open} upstream subscriptions left"
        await asyncio.sleep(0.05)


async def test_multipart_fatal_error_is_a_top_level_errors_part(live: Live) -> None:
    expiring = make_token(sub="u1", exp=int(time.time()) + 2)
    async with _stream(live.router_url, expiring, MULTIPART) as response:
        body = b"".join([chunk async for chunk in response.aiter_bytes()])
    assert body.endswith(b"\r\n--graphql--\r\n")
    parts = [orjson.loads(p.split(b"\r\n\r\n", 1)[1]) for p in body.split(b"\r\n--graphql")[1:-1]]
    assert parts[-1]["payload"] is None
    assert parts[-1]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert any(p.get("payload") for p in parts)  # the current state came first


def test_a_deferred_query_with_both_multipart_specs_accepted_streams_its_parts(
    stack: Stack,
) -> None:
    """Apollo Client may accept both specs on one request: a query then answers as the query
    endpoint does, its @defer parts included (not squeezed into one subscription part)."""
    accept = 'multipart/mixed;subscriptionSpec="1.0", multipart/mixed;deferSpec=20220824'
    response = stack.post("basic", {"query": "{ me { id ... @defer { name } } }"}, accept=accept)
    assert response.headers["content-type"] == CONTENT_TYPE
    got = parts(response.content)
    assert got[0] == {"data": {"me": {"id": "u1"}}, "hasNext": True}
    assert got[-1]["hasNext"] is False
    assert got[-1]["incremental"][0]["path"] == ["me"]


async def _until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


async def _no_upstream_left(live: Live) -> None:
    """Every subscription ended: the subgraph holds no subscription and no router socket."""
    await _until(lambda: BROKER.open == 0, "subgraph subscriptions left open")
    await _until(lambda: live.orders_gate.open_sockets == 0, "upstream sockets left open")


async def test_one_viewers_subscriptions_share_one_upstream_socket(live: Live) -> None:
    await _no_upstream_left(live)
    before = len(live.orders_gate.upgrades)
    token = make_token(sub="u1")
    first, second = await _ws(live, token), await _ws(live, token)
    await _subscribe(first, "a", "o1")
    await _subscribe(first, "b", "o1")
    await _subscribe(second, "a", "o1")
    for socket_ in (first, first, second):
        assert (await _receive(socket_))["type"] == "next"
    await _until_listening(3)
    # Three subscriptions, two client sockets, one token and address: one upstream socket.
    assert len(live.orders_gate.upgrades) == before + 1
    assert live.orders_gate.open_sockets == 1
    # Ending one completes its operation upstream; the others keep the socket and events.
    await first.send(orjson.dumps({"id": "a", "type": "complete"}).decode())
    await second.close()
    await _until(lambda: BROKER.open == 1, "the ended subscriptions still run upstream")
    assert live.orders_gate.open_sockets == 1
    await _in_thread(live.mutate, "o1", "PAID")
    event = await _receive(first)
    assert event["id"] == "b"
    assert event["payload"]["data"]["orderUpdated"]["status"] == "PAID"
    # The last one ending closes the socket.
    await first.send(orjson.dumps({"id": "b", "type": "complete"}).decode())
    await _no_upstream_left(live)
    await first.close()


async def test_different_tokens_never_share_an_upstream_socket(live: Live) -> None:
    await _no_upstream_left(live)
    before = len(live.orders_gate.upgrades)
    clients = [
        (await _ws(live, make_token(sub="u1")), "o1"),
        (await _ws(live, make_token(sub="u2")), "o2"),
        # The same viewer with another token: a socket of its own too (each expires alone).
        (await _ws(live, make_token(sub="u1", jti="t-2")), "o1"),
    ]
    for socket_, order_id in clients:
        await _subscribe(socket_, "a", order_id)
        assert (await _receive(socket_))["type"] == "next"
    upgrades = live.orders_gate.upgrades[before:]
    assert len(upgrades) == 3
    assert len({upgrade["authorization"] for upgrade in upgrades}) == 3
    for socket_, _ in clients:
        await socket_.close()
    await _no_upstream_left(live)


async def test_a_full_upstream_socket_opens_another(live: Live) -> None:
    await _no_upstream_left(live)
    app = _router_app(
        f"{live.orders.url}/graphql",
        live.catalog_url,
        subscriptions={"max_per_client": 5, "max_per_upstream_connection": 2},
    )
    router = ServerThread(app).start()
    try:
        before = len(live.orders_gate.upgrades)
        url = router.url.replace("http://", "ws://") + "/graphql"
        socket_ = await _ws_at(url, authorization=f"Bearer {make_token(sub='u1')}")
        for op_id in "abc":
            await _subscribe(socket_, op_id, "o1")
            assert (await _receive(socket_))["type"] == "next"
        assert len(live.orders_gate.upgrades) == before + 2
        assert live.orders_gate.open_sockets == 2
        await _until_listening(3)
        await _in_thread(live.mutate, "o1", "PAID")
        received = {(await _receive(socket_))["id"] for _ in "abc"}
        assert received == {"a", "b", "c"}
        await socket_.send(orjson.dumps({"id": "c", "type": "complete"}).decode())
        await _until(lambda: live.orders_gate.open_sockets == 1, "the emptied socket is open")
        await socket_.close()
        await _no_upstream_left(live)
    finally:
        router.stop()


async def test_a_lost_upstream_socket_ends_each_of_its_streams(live: Live) -> None:
    await _no_upstream_left(live)
    socket_ = await _ws(live, make_token(sub="u1"))
    for op_id in "ab":
        await _subscribe(socket_, op_id, "o1")
        assert (await _receive(socket_))["type"] == "next"
    assert live.orders_gate.open_sockets == 1
    await _in_thread(live.restart_orders)
    ended: dict[str, list[str]] = {"a": [], "b": []}
    for _ in range(4):
        message = await _receive(socket_)
        ended[message["id"]].append(message["type"])
        if message["type"] == "next":
            code = message["payload"]["errors"][0]["extensions"]["code"]
            assert code == "SERVICE_UNAVAILABLE"
    assert ended == {"a": ["next", "complete"], "b": ["next", "complete"]}
    await socket_.close()
    await _no_upstream_left(live)


async def test_a_subgraph_cap_below_ours_moves_the_subscription_to_another_socket(
    live: Live,
) -> None:
    """The router's `max_per_upstream_connection` (100) above the subgraph's own cap (2):
    the subgraph's RATE_LIMITED refusal moves the subscription to a new socket."""
    await _no_upstream_left(live)
    gate = live_subgraphs.orders_app(_gate_verifier(), _tokens(), max_per_connection=2)
    orders = ServerThread(gate).start()
    router = ServerThread(_router_app(f"{orders.url}/graphql", live.catalog_url)).start()
    try:
        url = router.url.replace("http://", "ws://") + "/graphql"
        socket_ = await _ws_at(url, authorization=f"Bearer {make_token(sub='u1')}")
        for op_id in "abc":
            await _subscribe(socket_, op_id, "o1")
            first = await _receive(socket_)
            assert first["id"] == op_id
            assert first["payload"]["data"]["orderUpdated"]["status"] == "PENDING", first
        assert len(gate.upgrades) == 2
        await socket_.close()
        await _until(lambda: gate.open_sockets == 0, "upstream sockets left open")
    finally:
        router.stop()
        orders.stop()


async def test_graphiql_runs_a_subscription(live: Live, tmp_path: Path) -> None:
    """Headless Chromium (skipped without one): GraphiQL subscribes over the router's
    WebSocket with the page's token, shows the order as it is, then as it changes."""
    token = make_token(sub="u1")
    editor_selector = ".graphiql-query-editor .CodeMirror"
    editor = f"document.querySelector('{editor_selector}').CodeMirror"
    result = "((document.querySelector('.result-window') || {}).textContent || '')"
    query = 'subscription { orderUpdated(orderId: "o1") { status item { title } } }'
    async with devtools(tmp_path / "profile", f"{live.router_url}/graphql") as page:
        await page.wait_for("document.querySelector('.graphiql-container') !== null")
        # What a Login run leaves behind (tests/e2e/test_browser.py runs the real one).
        remember = f"sessionStorage.setItem('coursegraph:accessToken', {json.dumps(token)})"
        await page.evaluate(f"{remember}; window.beforeReload = true; location.reload(); true")
        # The reload is asynchronous and the container shows before its editor mounts: wait
        # for the new page's editor, what is used next.
        await page.wait_for(
            f"!window.beforeReload && document.querySelector('{editor_selector}') !== null"
        )
        await page.evaluate(f"{editor}.setValue({json.dumps(query)}); true")
        await page.wait_for(f"{editor}.getValue().includes('orderUpdated')")
        await asyncio.sleep(0.5)  # the editor labels the run button once it has parsed
        await page.evaluate("document.querySelector('.graphiql-execute-button').click(); true")
        await page.wait_for(f"{result}.includes('PENDING')")
        await _in_thread(live.mutate, "o1", "SHIPPED")
        answer = await page.wait_for(f"{result}.includes('SHIPPED') && {result}")
    assert "Federation course" in answer  # the catalog's field, fetched for the event
    assert "UNAUTHENTICATED" not in answer
