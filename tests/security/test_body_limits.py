"""Every public HTTP body is read under a streaming cap: 413 before it is buffered.

Before: payments' webhook route buffered the whole body and then compared its length
(a 200 MB POST took payments from 126 to 323 MB before its 413); subgraph GraphQL had no
cap at all. After: a declared Content-Length over the cap is refused before a byte is
read, and a chunked body is refused as soon as it passes the cap, so the process does not
grow with what a client sends.
"""

from __future__ import annotations

import asyncio
import select
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from starlette.routing import Route

from coursegraph.body_limit import BodyLimit
from coursegraph.http import signed_path
from coursegraph.settings import Section, Settings
from launcher import subgraph_registry
from tests.e2e.stack import Stack
from tests.security.subgraph_calls import router_signer

MB = 1024 * 1024
# Far more than any cap here; with a streaming cap only the first few hundred KB are read.
HOSTILE_BYTES = 64 * MB
CHUNK = 64 * 1024
# Growth allowed while the hostile body is refused: socket buffers and allocator slack,
# well under the body size that buffering would have added.
RSS_SLACK_BYTES = 24 * MB


@dataclass
class Answer:
    status: int
    body: bytes
    sent: int  # body bytes the client managed to write before the answer came

    @property
    def code(self) -> str | None:
        try:
            payload = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None
        return str(payload["errors"][0]["extensions"]["code"])


def _complete(received: bytes | bytearray) -> bool:
    head, separator, rest = bytes(received).partition(b"\r\n\r\n")
    if not separator:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(rest) >= int(value)
    return False


def _post(url: str, body: bytes, chunked: bool, send_body: bool, headers: dict[str, str]) -> Answer:
    parts = urlsplit(url)
    lines = [f"POST {parts.path} HTTP/1.1", f"host: {parts.netloc}"]
    lines += ["content-type: application/json"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append("transfer-encoding: chunked" if chunked else f"content-length: {len(body)}")
    frames: list[bytes] = []
    if send_body:
        for start in range(0, len(body), CHUNK):
            block = body[start : start + CHUNK]
            frames.append(b"%x\r\n%s\r\n" % (len(block), block) if chunked else block)
        if chunked:
            frames.append(b"0\r\n\r\n")
    received = bytearray()
    sent = 0
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        sock.setblocking(False)
        pending = b""
        writing = True
        while True:
            writing = writing and not received and (bool(pending) or bool(frames))
            readable, writable, _ = select.select([sock], [sock] if writing else [], [], 60)
            if not readable and not writable:
                raise TimeoutError(f"no answer from {url} after {sent} bytes")
            if readable:
                try:
                    data = sock.recv(CHUNK)
                except ConnectionResetError:
                    break  # closed with our body unread: what came before still counts
                if not data:
                    break
                received += data
                if _complete(received):
                    break  # a server may keep the connection open for the unread body
                continue
            if not pending:
                pending = frames.pop(0)
            try:
                written = sock.send(pending)
            except BlockingIOError:
                continue
            except OSError:
                writing = False  # the server stopped reading and closed; its answer came
                continue
            pending = pending[written:]
            sent += written
    head, _, rest = bytes(received).partition(b"\r\n\r\n")
    return Answer(int(head.split(b" ", 2)[1]), rest, sent)


async def post(
    url: str,
    body: bytes,
    *,
    chunked: bool,
    send_body: bool = True,
    headers: dict[str, str] | None = None,
) -> Answer:
    """POST `body` (declared by Content-Length, or chunked) over a raw socket, reading
    while writing and stopping at the first byte of an answer. uvicorn closes a
    connection whose body it did not read with a reset, and an ordinary client that is
    still writing reports that instead of the 413 sent just before it."""
    return await asyncio.to_thread(_post, url, body, chunked, send_body, headers or {})


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _pid(stack: Stack, name: str) -> int:
    process = stack.services[name].process
    assert process is not None
    return process.pid


# (service, path): every route that reads a body, except uploads (capped at their size).
PUBLIC_ROUTES = [
    ("payments", "/webhooks/sandbox"),
    ("payments", "/sandbox/checkout/nonexistent"),
    ("files", "/webhooks/mux"),
    ("router", "/graphql"),
]


# JSON that never closes its string, so no parser could stop early.
HOSTILE = b'{"query": "' + b"x" * HOSTILE_BYTES


@pytest.mark.parametrize(("service", "path"), PUBLIC_ROUTES)
async def test_declared_oversize_is_refused_before_the_body_is_read(
    stack: Stack, service: str, path: str
) -> None:
    # Only the headers are sent: the answer cannot depend on reading a byte of the body.
    answer = await post(stack.services[service].url + path, HOSTILE, chunked=False, send_body=False)
    assert (answer.status, answer.code) == (413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize(("service", "path"), PUBLIC_ROUTES)
async def test_chunked_oversize_is_refused_while_streaming(
    stack: Stack, service: str, path: str
) -> None:
    pid = _pid(stack, service)
    before = _rss(pid)
    answer = await post(stack.services[service].url + path, HOSTILE, chunked=True)
    if path == "/webhooks/mux":
        # This stack processes videos locally: the Mux route answers 404 without reading
        # the body. Its cap is the same BodyLimit (see the route-table test below).
        assert answer.status == 404
    else:
        assert (answer.status, answer.code) == (413, "PAYLOAD_TOO_LARGE")
    assert answer.sent < len(HOSTILE), "the server read the whole body"
    assert _rss(pid) - before < RSS_SLACK_BYTES


@pytest.mark.parametrize("subgraph", ["users", "courses", "payments", "files"])
@pytest.mark.parametrize("chunked", [False, True])
async def test_subgraph_graphql_bodies_are_capped(
    stack: Stack, subgraph: str, chunked: bool
) -> None:
    """Signed as the router (over the whole body, as the router signs), so the cap is what
    refuses whoever the subgraph trusts."""
    url = f"{stack.services[subgraph].url}/graphql"
    headers = router_signer(stack).headers("POST", signed_path(httpx.URL(url)), HOSTILE)
    pid = _pid(stack, subgraph)
    before = _rss(pid)
    answer = await post(url, HOSTILE, chunked=chunked, headers=headers)
    assert (answer.status, answer.code) == (413, "PAYLOAD_TOO_LARGE")
    assert answer.sent < len(HOSTILE), "the subgraph read the whole body"
    assert _rss(pid) - before < RSS_SLACK_BYTES


async def test_bodies_under_the_caps_still_work(stack: Stack) -> None:
    """The caps refuse only what is too large: a normal query passes router and subgraph."""
    query = {"query": "{ courses(first: 1) { totalCount } }"}
    async with httpx.AsyncClient(timeout=30) as client:
        routed = await client.post(stack.graphql_url, json=query)
        url = f"{stack.services['courses'].url}/graphql"
        body = orjson.dumps(query)
        signed = router_signer(stack).headers("POST", signed_path(httpx.URL(url)), body)
        direct = await client.post(
            url, content=body, headers={"content-type": "application/json", **signed}
        )
    for response in (routed, direct):
        assert response.status_code == 200
        assert "totalCount" in response.json()["data"]["courses"]


def test_every_route_that_reads_a_body_is_capped(
    stack: Stack, sections: dict[str, Section]
) -> None:
    """No subgraph route that takes a body escapes the kernel's BodyLimit, except the
    upload PUT, which streams to storage and stops at the signed size."""
    settings = Settings(_env_file=None, COURSEGRAPH_ENV="test", database_url="postgresql://x/y")
    for name in subgraph_registry.available():
        app = subgraph_registry.create_app(name, settings, sections[name])
        for route in app.routes:
            if not isinstance(route, Route) or not (route.methods or set()) & {"POST", "PUT"}:
                continue
            if (name, route.path) == ("files", "/storage/uploads/{key}"):
                continue
            assert isinstance(route.app, BodyLimit), f"{name} {route.path} reads an uncapped body"


@pytest.mark.parametrize(
    ("service", "path"), [("payments", "/webhooks/sandbox"), ("courses", "/graphql")]
)
async def test_many_oversize_bodies_at_once_do_not_add_up(
    stack: Stack, service: str, path: str
) -> None:
    """Eight hostile clients at once: each is cut off at the cap, so the process holds at
    most eight caps' worth, not eight bodies (512 MB here)."""
    pid = _pid(stack, service)
    before = _rss(pid)
    url = stack.services[service].url + path

    async def hostile() -> Answer:
        # GraphQL is signed as the router, so the cap is what refuses (see above).
        signed = path == "/graphql"
        headers = router_signer(stack).headers("POST", path, HOSTILE) if signed else {}
        return await post(url, HOSTILE, chunked=True, headers=headers)

    answers = await asyncio.gather(*(hostile() for _ in range(8)))
    assert [(a.status, a.code) for a in answers] == [(413, "PAYLOAD_TOO_LARGE")] * 8
    assert _rss(pid) - before < RSS_SLACK_BYTES + 8 * 4 * MB
    # And the service still answers an ordinary request.
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await client.get(f"{stack.services[service].url}/health")).status_code == 200
