"""The subgraph HTTP client: keep-alive reuse, stale connections, bad answers, timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from coursegraph.service_auth import ServiceSigner
from router.http import SubgraphClient, SubgraphEndpoint
from router.subgraph_errors import SubgraphUnavailable
from tests.router.conftest import closed_port

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]
OK_BODY = b'{"data":{"ok":true}}'


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return await reader.readexactly(length)


def _response(body: bytes, close: bool = False) -> bytes:
    connection = b"close" if close else b"keep-alive"
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Connection: " + connection + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    connections: list[int] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(len(connections))
        try:
            await handler(reader, writer, len(connections))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/graphql", connections
    finally:
        server.close()
        await server.wait_closed()


def client(url: str, timeout: float = 2.0) -> SubgraphClient:
    return SubgraphClient(SubgraphEndpoint("test", url, timeout), None, 4)


async def test_connections_are_kept_alive() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        while True:
            await _read_request(reader)
            writer.write(_response(OK_BODY))
            await writer.drain()

    async with serve(handler) as (url, connections):
        subgraph = client(url)
        for _ in range(3):
            assert await subgraph.request({"query": "{ ok }"}, {}) == {"data": {"ok": True}}
        assert len(connections) == 1
        await subgraph.close()


async def test_a_connection_closed_while_idle_is_replaced() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await _read_request(reader)
        writer.write(_response(OK_BODY))
        await writer.drain()
        # Keep-alive announced, but the server hangs up right after answering.

    async with serve(handler) as (url, connections):
        subgraph = client(url)
        await subgraph.request({"query": "{ ok }"}, {})
        await asyncio.sleep(0.05)
        assert await subgraph.request({"query": "{ ok }"}, {}) == {"data": {"ok": True}}
        assert len(connections) == 2
        await subgraph.close()


async def test_a_repeated_request_is_signed_again() -> None:
    """A request on a pooled connection that closes before any answer is sent once more
    (the instance behind a balancer may have died with it). The repeat carries a nonce of
    its own: the first may have been claimed in the shared store before the instance died,
    and the other instance would refuse the same one as a replay."""
    nonces: list[bytes] = []

    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int
    ) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0]))
            nonces.extend(
                line.split(b": ")[1]
                for line in head.split(b"\r\n")
                if line.startswith(b"x-service-nonce")
            )
            if number == 1 and len(nonces) == 2:
                return  # the second request on the first connection dies unanswered
            writer.write(_response(OK_BODY))
            await writer.drain()

    async with serve(handler) as (url, connections):
        subgraph = SubgraphClient(
            SubgraphEndpoint("test", url, 2.0), ServiceSigner("router", b"k" * 32), 4
        )
        await subgraph.request({"query": "{ ok }"}, {})
        assert await subgraph.request({"query": "{ ok }"}, {}) == {"data": {"ok": True}}
        assert len(connections) == 2
        assert len(nonces) == 3
        assert len(set(nonces)) == 3, "the repeat was sent with the nonce already used"
        await subgraph.close()


async def test_not_graphql_is_unavailable() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await _read_request(reader)
        writer.write(_response(b"<html>502</html>", close=True))
        await writer.drain()

    async with serve(handler) as (url, _):
        subgraph = client(url)
        with pytest.raises(SubgraphUnavailable, match="not JSON"):
            await subgraph.request({"query": "{ ok }"}, {})
        await subgraph.close()


async def test_slow_answer_times_out() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await _read_request(reader)
        await asyncio.sleep(1)

    async with serve(handler) as (url, _):
        subgraph = client(url, timeout=0.1)
        with pytest.raises(SubgraphUnavailable, match="timed out"):
            await subgraph.request({"query": "{ ok }"}, {})
        await subgraph.close()


async def test_waiting_for_a_free_connection_counts_in_the_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await _read_request(reader)
        writer.write(_response(OK_BODY))
        await writer.drain()

    async with serve(handler) as (url, connections):
        subgraph = SubgraphClient(SubgraphEndpoint("test", url, 0.1), None, 1)
        assert subgraph._slots.take() is None  # the one connection is busy, and stays so
        with pytest.raises(SubgraphUnavailable, match="timed out"):
            await subgraph.request({"query": "{ ok }"}, {})
        assert connections == []
        subgraph._slots.release()
        assert await subgraph.request({"query": "{ ok }"}, {}) == {"data": {"ok": True}}
        await subgraph.close()


async def test_requests_beyond_the_connections_wait_their_turn() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        while True:
            await _read_request(reader)
            await asyncio.sleep(0.02)
            writer.write(_response(OK_BODY))
            await writer.drain()

    async with serve(handler) as (url, connections):
        subgraph = SubgraphClient(SubgraphEndpoint("test", url, 2.0), None, 1)
        calls = [subgraph.request({"query": "{ ok }"}, {}) for _ in range(3)]
        assert await asyncio.gather(*calls) == [{"data": {"ok": True}}] * 3
        # A waiter cancelled after a slot was handed to it gives the slot back.
        assert subgraph._slots.take() is None
        waiting = asyncio.create_task(subgraph.request({"query": "{ ok }"}, {}))
        await asyncio.sleep(0)
        subgraph._slots.release()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert await subgraph.request({"query": "{ ok }"}, {}) == {"data": {"ok": True}}
        assert connections == [0]
        await subgraph.close()


async def test_refused_connection_is_unavailable() -> None:
    subgraph = client(f"http://127.0.0.1:{closed_port()}/graphql")
    with pytest.raises(SubgraphUnavailable):
        await subgraph.request({"query": "{ ok }"}, {})
    await subgraph.close()


def test_unsupported_url_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported URL"):
        client("ftp://example.com/graphql")


async def test_a_retired_client_finishes_requests_in_flight_then_stops_pooling() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        while True:
            body = await _read_request(reader)
            if b"slow" in body:
                await asyncio.sleep(0.2)
            writer.write(_response(OK_BODY))
            await writer.drain()

    async with serve(handler) as (url, connections):
        subgraph = client(url)
        await subgraph.request({"query": "{ ok }"}, {})
        in_flight = asyncio.create_task(subgraph.request({"query": "{ slow }"}, {}))
        await asyncio.sleep(0.05)
        # A reload replaced this client: the request on its pooled connection still ends.
        subgraph.retire()
        assert await in_flight == {"data": {"ok": True}}
        assert len(connections) == 1
        # The connection closed when that request ended, so the next one opens another.
        assert await subgraph.request({"query": "{ ok }"}, {}) == {"data": {"ok": True}}
        assert len(connections) == 2
        await subgraph.close()
