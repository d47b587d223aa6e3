"""HTTP to subgraphs: pooled keep-alive HTTP/1.1 connections, signed requests.

A small client on asyncio protocols and httptools (the parser uvicorn uses) rather than a
general-purpose library: a gateway request fans out into a dozen subgraph calls, and
aiohttp's per-request bookkeeping alone cost more than the rest of the router's work.
Every request is signed as service `router` (HMAC, ARCHITECTURE.md) over the exact body
bytes sent, and carries the client's forwarded headers.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import httptools
import orjson

from coursegraph.service_auth import SIGNING_HEADERS, ServiceSigner, SignedRoute
from coursegraph.settings import Settings
from router.subgraph_errors import SubgraphTimeout, SubgraphUnavailable


def router_signer(settings: Settings, sign: bool) -> ServiceSigner | None:
    """How the router signs its subgraph calls, when `auth.sign_subgraph_requests`."""
    return ServiceSigner("router", settings.service_key("router")) if sign else None


class SubgraphAnswer(dict[str, Any]):
    """A subgraph's GraphQL answer, with the number of JSON objects in its body, counted on
    the raw bytes (`{`) at C speed: an upper bound, as braces inside strings count too. The
    executor's response cap and actual cost read it instead of walking the parsed tree.
    `cache_control` and `cache_tag` are the subgraph's cache policy headers, when it sent
    them (coursegraph/cache_control.py; the response cache reads them)."""

    __slots__ = ("cache_control", "cache_tag", "objects")

    def __init__(
        self,
        parsed: dict[str, Any],
        objects: int,
        cache_control: str | None = None,
        cache_tag: str | None = None,
    ) -> None:
        super().__init__(parsed)
        self.objects = objects
        self.cache_control = cache_control
        self.cache_tag = cache_tag


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    body: bytes
    cache_control: bytes | None
    cache_tag: bytes | None


@dataclass(frozen=True, slots=True)
class SubgraphEndpoint:
    name: str
    url: str
    timeout_seconds: float


class _Connection(asyncio.Protocol):
    """One keep-alive connection; at most one request in flight."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[_Reply] | None = None
        self.parts: list[bytes] = []
        self.cache_control: bytes | None = None
        self.cache_tag: bytes | None = None
        self.closed = False
        self.reusable = False
        self.received = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, hence the cast.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"bad HTTP response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionError("connection closed by the subgraph"))

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.parts = []
        self.cache_control = None
        self.cache_tag = None

    def on_header(self, name: bytes, value: bytes) -> None:
        # Only the two cache policy headers are kept; lengths first, so most headers cost
        # one comparison.
        if len(name) == 13 and name.lower() == b"cache-control":
            self.cache_control = value
        elif len(name) == 9 and name.lower() == b"cache-tag":
            self.cache_tag = value

    def on_body(self, body: bytes) -> None:
        self.parts.append(body)

    def on_message_complete(self) -> None:
        self.reusable = self.parser.should_keep_alive()
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(
                _Reply(
                    self.parser.get_status_code(),
                    b"".join(self.parts),
                    self.cache_control,
                    self.cache_tag,
                )
            )

    def _fail(self, exc: Exception) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def send(self, data: bytes) -> asyncio.Future[_Reply]:
        assert self.transport is not None
        self.received = False
        self.reusable = False
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _Slots:
    """At most `size` requests in flight; the others wait in order. Unlike
    `asyncio.Semaphore.acquire` (a coroutine, even for a free slot), taking a free slot
    creates nothing: it is the case of nearly every subgraph call."""

    def __init__(self, size: int) -> None:
        self.free = size
        # Waiters, oldest first; one that gave up stays until a release skips it. While a
        # slot is free none is waiting: a release hands its slot to a waiter if there is one.
        self.waiters: deque[asyncio.Future[None]] = deque()

    def take(self) -> asyncio.Future[None] | None:
        """None: taken. Else a future that is done when a release hands a slot over."""
        if self.free > 0:
            self.free -= 1
            return None
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        return waiter

    def release(self) -> None:
        waiters = self.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1

    def abandon(self, waiter: asyncio.Future[None]) -> None:
        """The waiter gave up (timed out, cancelled): give back a slot handed over meanwhile."""
        if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
            self.release()


class SubgraphClient:
    def __init__(
        self, endpoint: SubgraphEndpoint, signer: ServiceSigner | None, max_connections: int
    ) -> None:
        self.endpoint = endpoint
        url = urlsplit(endpoint.url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"subgraph {endpoint.name}: unsupported URL {endpoint.url!r}")
        self._host = url.hostname
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._ssl = ssl.create_default_context() if url.scheme == "https" else None
        self._path = url.path or "/"
        target = self._path + (f"?{url.query}" if url.query else "")
        host_header = url.netloc.rsplit("@", 1)[-1]
        self._head = (
            f"POST {target} HTTP/1.1\r\nHost: {host_header}\r\n"
            "Content-Type: application/json\r\nAccept: application/json\r\n"
        ).encode()
        self._signing = SignedRoute(signer, "POST", self._path) if signer is not None else None
        self._timeout = endpoint.timeout_seconds
        self.max_connections = max_connections
        self._idle: deque[_Connection] = deque()
        self._max_idle = max_connections
        self._open: set[_Connection] = set()
        # Bounds open connections; requests beyond it wait (inside their timeout).
        self._slots = _Slots(max_connections)

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_connection(
            _Connection, self._host, self._port, ssl=self._ssl
        )
        # uvloop may report connection_made after create_connection returns.
        if protocol.transport is None:
            protocol.transport = cast(asyncio.Transport, transport)
        self._open.add(protocol)
        return protocol

    def _checkout(self) -> _Connection | None:
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
            self._open.discard(conn)
        return None

    def _release(self, conn: _Connection) -> None:
        if conn.closed or not conn.reusable or len(self._idle) >= self._max_idle:
            conn.close()
            self._open.discard(conn)
        else:
            self._idle.append(conn)

    async def request(
        self, payload: dict[str, Any], headers: Mapping[str, str], *, retry: bool = True
    ) -> dict[str, Any]:
        body = orjson.dumps(payload)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        slots = self._slots
        try:
            waiter = slots.take()
            if waiter is not None:
                # Every connection busy: wait for one inside the request's time budget.
                timer = loop.call_at(deadline, _expire, waiter)
                try:
                    await waiter
                except BaseException:
                    slots.abandon(waiter)
                    raise
                finally:
                    timer.cancel()
            try:
                reply = await self._exchange(body, headers, retry, deadline)
            finally:
                slots.release()
        except TimeoutError:
            raise SubgraphTimeout(f"timed out after {self._timeout:g}s") from None
        except OSError as exc:
            raise SubgraphUnavailable(str(exc) or type(exc).__name__) from None
        status, raw = reply.status, reply.body
        try:
            result = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise SubgraphUnavailable(f"HTTP {status}: response is not JSON") from None
        if not isinstance(result, dict) or ("data" not in result and "errors" not in result):
            raise SubgraphUnavailable(f"HTTP {status}: not a GraphQL response")
        # Not counted: the answer's own object and its `data` object.
        envelope = 2 if isinstance(result.get("data"), dict) else 1
        return SubgraphAnswer(
            result,
            raw.count(b"{") - envelope,
            reply.cache_control.decode("latin-1") if reply.cache_control is not None else None,
            reply.cache_tag.decode("latin-1") if reply.cache_tag is not None else None,
        )

    def _frame(self, body: bytes, headers: Mapping[str, str]) -> bytes:
        """The request's bytes, signed as it is sent: a repeat carries a nonce of its own,
        or every instance sharing the nonce store (Redis) would refuse it as a replay. A
        forwarded header named like a signing header gives way to the signature."""
        signing = self._signing
        forwarded = "".join(
            [
                f"{name}: {value}\r\n"
                for name, value in headers.items()
                if signing is None or name not in SIGNING_HEADERS
            ]
        )
        return b"".join(
            (
                self._head,
                forwarded.encode(),
                b"" if signing is None else signing.lines(body),
                b"Content-Length: %d\r\n\r\n" % len(body),
                body,
            )
        )

    async def _exchange(
        self, body: bytes, headers: Mapping[str, str], retry: bool, deadline: float
    ) -> _Reply:
        data = self._frame(body, headers)
        conn = self._checkout()
        reused = conn is not None
        if conn is None:
            async with asyncio.timeout_at(deadline):
                conn = await self._connect()
        timer: asyncio.TimerHandle | None = None
        try:
            waiter = conn.send(data)
            # The answer's deadline: a timer that fails the waiter, cheaper than an
            # `asyncio.timeout` (it cancels the task) on every subgraph call.
            timer = asyncio.get_running_loop().call_at(deadline, _expire, waiter)
            result = await waiter
        except ConnectionError:
            conn.close()
            self._open.discard(conn)
            # A pooled connection the subgraph closed while idle: try once on a fresh one,
            # unless the request may have been processed (then only if it is safe to repeat).
            if reused and retry and not conn.received:
                return await self._exchange(body, headers, False, deadline)
            raise
        except BaseException:
            conn.close()
            self._open.discard(conn)
            raise
        finally:
            if timer is not None:
                timer.cancel()
        self._release(conn)
        return result

    async def close(self) -> None:
        for conn in list(self._open):
            conn.close()
        self._open.clear()
        self._idle.clear()

    def retire(self) -> None:
        """Stop pooling after a reload dropped this client: idle connections close now, and
        each busy one when its request (still served by the old schema) ends."""
        self._max_idle = 0
        while self._idle:
            conn = self._idle.pop()
            conn.close()
            self._open.discard(conn)


def _expire(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class SubgraphClients:
    """The clients of all subgraphs, keyed by the supergraph's graph id."""

    def __init__(self, clients: Mapping[str, SubgraphClient]) -> None:
        self._clients = dict(clients)

    def __getitem__(self, graph: str) -> SubgraphClient:
        return self._clients[graph]

    def __iter__(self) -> Iterator[SubgraphClient]:
        return iter(self._clients.values())

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self._clients.values()))
