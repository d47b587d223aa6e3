"""Micro-benchmarks of kernel hot paths (docs/benchmarks.md, "Kernel micro-benchmarks").

    .venv/bin/python bench/kernel.py nonce            # HMAC nonce claims at N live nonces
    .venv/bin/python bench/kernel.py token            # access-token verification, repeated
    DATABASE_URL=... .venv/bin/python bench/kernel.py db   # one-row reads through Database
    .venv/bin/python bench/kernel.py workers          # router RPS with 1 and 2 workers (wrk)
    .venv/bin/python bench/kernel.py testquery        # router CPU per TestQuery, in-process
    .venv/bin/python bench/kernel.py testquery --concurrency 50   # ... 50 in flight
    .venv/bin/python bench/kernel.py subgraph         # users' and courses' CPU per router call
    .venv/bin/python bench/kernel.py courses          # courses subgraph CPU per app page

Each figure is CPU time of this process per operation (time.process_time), the median
of --rounds rounds, so other work on the machine disturbs it little. Run it with
PYTHONPATH pointing at another checkout to measure that checkout's code.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from functools import partial
from typing import Any


async def cpu_per_op(op: Callable[[], Awaitable[object]], count: int, rounds: int) -> float:
    """Median CPU microseconds per call of `op`, over `rounds` rounds of `count` calls."""
    return (await per_op(op, count, rounds))[0]


async def cyclic_garbage(op: Callable[[], Awaitable[object]], count: int) -> float:
    """Objects per call of `op` that only the cyclic collector frees: reference cycles
    (and what hangs off them) that the young collections then free in one pause."""
    import gc

    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(count):
            await op()
        gc.collect()
        return len(gc.garbage) / count
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


async def per_op(
    op: Callable[[], Awaitable[object]], count: int, rounds: int
) -> tuple[float, float]:
    """Median CPU and wall-clock microseconds per call of `op`, over `rounds` rounds."""
    cpu, wall = [], []
    for _ in range(rounds):
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        for _ in range(count):
            await op()
        cpu.append((time.process_time() - start_cpu) / count * 1e6)
        wall.append((time.perf_counter() - start_wall) / count * 1e6)
    return statistics.median(cpu), statistics.median(wall)


async def bench_nonce(rounds: int) -> None:
    from coursegraph.service_auth import MemoryNonceStore

    print("nonce store: CPU µs per claim with N live nonces (window 600 s)")
    for live in (1_000, 9_000, 40_000, 200_000):
        store = MemoryNonceStore()
        for i in range(live):
            await store.claim("router", f"fill-{i:032d}", 600)
        fresh = (f"new-{i:032d}" for i in range(10**9))

        async def claim(store: MemoryNonceStore = store, fresh: Iterator[str] = fresh) -> bool:
            return await store.claim("router", next(fresh), 600)

        count = 2_000 if live <= 9_000 else 200
        print(f"  {live:>7,} live: {await cpu_per_op(claim, count, rounds):10.1f} µs")


async def bench_token(rounds: int) -> None:
    import json
    import uuid

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    from coursegraph.identity import JWKSCache, RevocationList, TokenVerifier

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": "k1", "alg": "RS256"}

    async def jwks() -> dict[str, object]:
        return {"keys": [jwk]}

    async def revoked() -> dict[str, int]:
        return {}

    verifier = TokenVerifier(
        JWKSCache(jwks),
        algorithm="RS256",
        issuer="bench",
        audience="bench",
        revocations=RevocationList(revoked, poll_seconds=30),
    )
    now = int(time.time())
    claims = {"sub": "u1", "role": "STUDENT", "scope": "learn profile", "iss": "bench"}
    token = jwt.encode(
        {**claims, "aud": "bench", "iat": now, "exp": now + 900, "jti": uuid.uuid4().hex},
        key,
        algorithm="RS256",
        headers={"kid": "k1"},
    )

    async def verify() -> object:
        return await verifier.verify(token)

    cpu = await cpu_per_op(verify, 2_000, rounds)
    print(f"token verifier: CPU µs per verify of the same RS256 token: {cpu:.1f} µs")


async def bench_db(rounds: int) -> None:
    import os
    import secrets

    from sqlalchemy import Column, Integer, MetaData, String, Table, select, text

    from coursegraph.db import Database, create_engine

    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("set DATABASE_URL (a server you may create a scratch schema on)")
    schema = f"bench_{secrets.token_hex(3)}"
    table = Table(
        "thing",
        MetaData(schema=schema),
        Column("id", Integer, primary_key=True),
        Column("name", String),
    )
    database = Database(create_engine(url, pool_size=2))
    async with database.engine.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        await connection.run_sync(table.metadata.create_all)
        await connection.execute(table.insert().values(id=1, name="one"))
    statement = select(table.c.name).where(table.c.id == 1)
    try:

        async def read() -> object:
            async with database.read() as session:
                return (await session.execute(statement)).scalar_one()

        async def rows() -> object:
            return (await database.rows(statement))[0][0]

        await cpu_per_op(read, 200, 1)  # warm the pool and the statement cache
        cpu, wall = await per_op(read, 2_000, rounds)
        print(f"database, one-row read: {cpu:.0f} µs CPU of this process, {wall:.0f} µs wall")
        await cpu_per_op(rows, 200, 1)
        cpu, wall = await per_op(rows, 2_000, rounds)
        print(f"database, one-row Core read (Database.rows): {cpu:.0f} µs CPU, {wall:.0f} µs wall")
    finally:
        async with database.engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await database.dispose()


def bench_workers(duration: int) -> None:
    """`{ __typename }` through `coursegraph router --workers N` (every optional edge concern
    off), driven by wrk for `duration` seconds per N; wrk's own CPU shares the cores."""
    import json
    import os
    import signal
    import socket
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    import httpx

    bench = Path(__file__).resolve().parent
    with tempfile.TemporaryDirectory() as scratch:
        body = Path(scratch) / "body.json"
        body.write_text('{"query":"{ __typename }"}')
        for workers in (1, 2):
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            command = [sys.executable, "-m", "launcher.cli", "router", "--no-watch"]
            command += ["--supergraph", str(bench / "supergraph.graphql")]
            command += ["--config", str(bench / "router-bare.yaml"), "--log-level", "warning"]
            command += ["--port", str(port), "--workers", str(workers)]
            router = subprocess.Popen(command, cwd=bench.parent)
            try:
                url = f"http://127.0.0.1:{port}"
                for _ in range(600):
                    try:
                        if httpx.get(f"{url}/health").status_code == 200:
                            break
                    except httpx.HTTPError:
                        time.sleep(0.1)
                time.sleep(2)  # let every worker finish starting
                script = str(bench / "wrk" / "testquery.lua")
                out = subprocess.run(
                    ["wrk", "-t1", "-c32", f"-d{duration}s", "-s", script, f"{url}/graphql"],
                    env={**os.environ, "BENCH_BODY_FILE": str(body)},
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                result = json.loads(out.split("WRKJSON ", 1)[1].splitlines()[0])
                bad = result["bad_status"] + result["with_errors"] + result["connect_errors"]
                rps = result["requests"] / (result["duration_us"] / 1e6)
                print(
                    f"router, {workers} worker(s): {rps:,.0f} RPS, "
                    f"p99 {result['p99_us'] / 1000:.1f} ms, {bad} bad responses"
                )
            finally:
                router.send_signal(signal.SIGTERM)
                router.wait(timeout=60)


async def asgi_post(
    app: Any, body: bytes, headers: list[tuple[bytes, bytes]], server: tuple[str, int]
) -> bytes:
    """POST `body` to /graphql of the ASGI `app` in this process (no server, no socket);
    the response body."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": server,
    }
    parts: list[bytes] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:  # only after the response: the client went away
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.body":
            parts.append(message.get("body", b""))

    await app(scope, receive, send)
    return b"".join(parts)


class _Transport:
    """A client connection's transport for an HTTP protocol driven in this process: it
    keeps what the protocol writes and wakes the caller when a whole response is there."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.done: asyncio.Future[bytes] | None = None
        self.closing = False

    def write(self, data: bytes) -> None:
        self.out += data
        head, sep, rest = bytes(self.out).partition(b"\r\n\r\n")
        if not sep or self.done is None:
            return
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        if len(rest) >= length:
            self.done.set_result(rest[:length])
            self.out.clear()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 4300), "peername": ("127.0.0.1", 40000)}.get(
            name, default
        )

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        return None

    def resume_reading(self) -> None:
        return None


def http_caller(
    app: Any, http: str, request: Callable[[], bytes]
) -> Callable[[], Awaitable[bytes]]:
    """POST `request()` (raw HTTP/1.1) on one keep-alive connection to uvicorn's HTTP
    protocol `http` (a name or import string) serving `app`, in this process: the server
    layer's Python without its socket. The response body."""
    import uvicorn
    from uvicorn.server import ServerState

    config = uvicorn.Config(
        app, http=http, log_config=None, access_log=False, lifespan="off", proxy_headers=False
    )
    config.load()
    state = ServerState()
    state.default_headers = [(b"date", b"Mon, 07 Dec 2026 00:00:00 GMT"), (b"server", b"uvicorn")]
    protocol = config.http_protocol_class(  # type: ignore[call-arg]
        config=config, server_state=state, app_state={}
    )
    transport = _Transport()
    protocol.connection_made(transport)  # type: ignore[arg-type]

    async def call() -> bytes:
        transport.done = asyncio.get_running_loop().create_future()
        protocol.data_received(request())
        return await transport.done

    return call


def served_protocols(app: Any) -> dict[str, str]:
    """How `app` is called, by name: directly (no HTTP server), through uvicorn's httptools
    protocol, and through the kernel's protocol (coursegraph/wire.py) where this checkout's
    app offers it (its import string: the router's own, router/wire.py, before it moved)."""
    protocols = {"ASGI app, no server": "", "uvicorn's httptools protocol": "httptools"}
    if getattr(app.state, "direct_post", None) is not None:
        try:
            import coursegraph.wire  # noqa: F401

            protocols["direct protocol"] = "coursegraph.wire:DirectProtocol"
        except ImportError:
            protocols["direct protocol"] = "router.wire:RouterProtocol"
    return protocols


def bench_testquery(rounds: int, concurrency: int = 1) -> None:
    """bench/run.py's TestQuery through the router's ASGI app (default edge), called in this
    process without an HTTP server in front; the four bench subgraphs answer over real
    HTTP (Node, started here on port 4210). What is left out is uvicorn and the kernel's
    work for the client's connection: this is the router's own Python per request."""
    import json
    import os
    import subprocess
    from pathlib import Path

    import httpx
    import uvloop

    os.environ["COURSEGRAPH_ENV"] = "test"  # as bench/run.py runs it
    from coursegraph.settings import get_settings
    from router.bootstrap import build_app
    from router.source import SupergraphSource

    bench = Path(__file__).resolve().parent
    query = (bench / "query.graphql").read_text()
    body = json.dumps({"query": query, "operationName": "TestQuery"}).encode()
    expected = json.loads((bench / "expected-response.json").read_text())
    settings = get_settings()
    app = build_app(
        SupergraphSource(None, bench / "supergraph.graphql", settings=settings),
        settings,
        watch=False,
    )
    headers = [
        (b"host", b"127.0.0.1:4300"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]

    async def asgi() -> bytes:
        return await asgi_post(app, body, headers, ("127.0.0.1", 4300))

    request = (
        b"POST /graphql HTTP/1.1\r\n"
        + b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        + b"\r\n"
        + body
    )
    protocols = served_protocols(app)

    def caller(http: str) -> Callable[[], Awaitable[bytes]]:
        return http_caller(app, http, lambda: request) if http else asgi

    def together(http: str) -> Callable[[], Awaitable[object]]:
        """`concurrency` requests at once, each on its own connection."""
        callers = [caller(http) for _ in range(concurrency)]

        async def call() -> object:
            return await asyncio.gather(*(c() for c in callers))

        return call

    async def measure() -> dict[str, list[float]]:
        async with app.router.lifespan_context(app):
            for http in protocols.values():
                if json.loads(await caller(http)()) != expected:
                    raise SystemExit("wrong TestQuery response")
            calls = {name: together(http) for name, http in protocols.items()}
            count = max(1, 200 // concurrency)
            for call in calls.values():
                for _ in range(count // 2):  # warm: plan cache, connection pools
                    await call()
            samples: dict[str, list[float]] = {name: [] for name in calls}
            for _ in range(rounds):  # alternated, so other work on the machine hits each
                for name, call in calls.items():
                    samples[name].append(await cpu_per_op(call, count, 1) / concurrency)
            left = await cyclic_garbage(calls["ASGI app, no server"], 20)
            print(f"objects left to the cyclic collector per request: {left / concurrency:.1f}")
            return samples

    subgraphs = subprocess.Popen(
        ["node", str(bench / "subgraphs" / "server.mjs"), "--port", "4210"],
        env={**os.environ, "NODE_ENV": "production"},
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                if httpx.get("http://127.0.0.1:4210/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        uvloop.install()  # the loop uvicorn serves the router on
        for name, samples in asyncio.run(measure()).items():
            print(
                f"router in-process, TestQuery, {name}, {concurrency} at once: CPU µs per "
                "request, median "
                f"{statistics.median(samples):,.0f}, min {min(samples):,.0f} "
                f"(rounds: {', '.join(f'{s:,.0f}' for s in samples)})"
            )
    finally:
        subgraphs.terminate()
        subgraphs.wait(timeout=10)


# The router's own subgraph requests for the catalog page (`coursegraph router plan --query
# clients/operations/catalog.graphql --variables '{"first":20}'`, its fetch documents).
CATALOG_COURSES = (
    "query($after:String,$first:Int=20,$freeOnly:Boolean,$search:String){courses(first:$first,"
    "after:$after,search:$search,freeOnly:$freeOnly){totalCount pageInfo{hasNextPage endCursor}"
    " edges{cursor node{id slug title isFree price{amount currency} lectureCount"
    " enrollmentCount teacher{id __typename}}}}}"
)
CATALOG_USERS = (
    "query($representations:[_Any!]!){_entities(representations:$representations)"
    "{...on User{name}}}"
)


def bench_subgraph(rounds: int, profile: str | None) -> None:
    """The users and courses subgraphs' ASGI apps called in this process, as the router
    calls them for one catalog page: the signed `courses(first: 20)` fetch, and the signed
    `_entities` fetch of the page's 20 teachers' names; each called three ways, alternated:
    the ASGI app alone, and the app behind uvicorn's httptools protocol and behind the
    kernel's (coursegraph/wire.py, where the app offers it), driven in process on one
    keep-alive connection without a socket. No router: this is the subgraph kernel's and
    the resolvers' own Python per request, with and without the server layer's (the
    database is a real PostgreSQL: bench/stack.py's cluster of the smoke catalog, under
    bench/.work/kernel/)."""
    import json
    import os
    import sys
    from pathlib import Path

    import orjson
    import uvloop

    # The measured code first: bench/stack.py puts this checkout first on the path, and a
    # package imported now keeps its place (PYTHONPATH=<another checkout> measures that).
    import coursegraph.app
    import subgraphs.courses.app
    import subgraphs.users.app  # noqa: F401
    from launcher import subgraph_registry

    bench = Path(__file__).resolve().parent
    sys.path.insert(0, str(bench))
    import stack  # bench/stack.py: its cluster and catalog

    from coursegraph.service_auth import ServiceSigner
    from coursegraph.settings import Settings

    cluster = stack.Cluster(bench / ".work" / "kernel")
    cluster.start()
    try:
        stack.prepare_database(cluster, stack.catalog.SIZES["smoke"])
        url = cluster.url(stack.DATABASE).replace("postgresql://", "postgresql+asyncpg://")
        settings = Settings(
            _env_file=None,
            COURSEGRAPH_ENV="test",
            COURSEGRAPH_DATA_DIR=bench / ".work" / "kernel" / "data",
            database_url=url,
            log_level="WARNING",
        )
        signer = ServiceSigner("router", settings.service_key("router"))
        apps = {name: subgraph_registry.create_app(name, settings) for name in ("users", "courses")}
        print(f"measuring the code of {Path(coursegraph.app.__file__).parents[1]}")

        def headers(payload: dict[str, Any]) -> tuple[bytes, list[tuple[bytes, bytes]]]:
            """The body and headers of a fetch as the router sends it, freshly signed."""
            body = orjson.dumps(payload)
            return body, [
                (b"host", b"127.0.0.1:4001"),
                (b"content-type", b"application/json"),
                (b"accept", b"application/json"),
                (b"x-request-id", os.urandom(8).hex().encode()),
                (b"x-forwarded-for", b"127.0.0.1"),
                *(
                    (k.encode(), v.encode())
                    for k, v in signer.headers("POST", "/graphql", body).items()
                ),
                (b"content-length", str(len(body)).encode()),
            ]

        async def call(name: str, payload: dict[str, Any]) -> bytes:
            body, fields = headers(payload)
            return await asgi_post(apps[name], body, fields, ("127.0.0.1", 4001))

        def request(payload: dict[str, Any]) -> bytes:
            body, fields = headers(payload)
            head = b"".join(name + b": " + value + b"\r\n" for name, value in fields)
            return b"POST /graphql HTTP/1.1\r\n" + head + b"\r\n" + body

        def caller(name: str, payload: dict[str, Any], http: str) -> Callable[[], Awaitable[bytes]]:
            """One call of the fetch, through the app alone or a server protocol."""
            if not http:
                return partial(call, name, payload)
            return http_caller(apps[name], http, partial(request, payload))

        async def measure() -> dict[str, list[float]]:
            async with (
                apps["users"].router.lifespan_context(apps["users"]),
                apps["courses"].router.lifespan_context(apps["courses"]),
            ):
                page = json.loads(
                    await call("courses", {"query": CATALOG_COURSES, "variables": {"first": 20}})
                )
                edges = page["data"]["courses"]["edges"]
                teachers = [e["node"]["teacher"] for e in edges]
                # The router sends each distinct representation once.
                representations = list({t["id"]: t for t in teachers}.values())
                names = json.loads(
                    await call(
                        "users",
                        {"query": CATALOG_USERS, "variables": {"representations": representations}},
                    )
                )
                if len(edges) != 20 or "errors" in names or None in names["data"]["_entities"]:
                    raise SystemExit(f"unexpected answers: {page} {names}")
                requests: dict[str, tuple[str, dict[str, Any]]] = {
                    # The kernel alone: gate, context, extensions, no field to resolve.
                    "users { __typename }": ("users", {"query": "{__typename}"}),
                    f"users _entities, {len(representations)} User {{ name }}": (
                        "users",
                        {"query": CATALOG_USERS, "variables": {"representations": representations}},
                    ),
                    "courses courses(first: 20)": (
                        "courses",
                        {"query": CATALOG_COURSES, "variables": {"first": 20}},
                    ),
                }
                protocols = served_protocols(apps["users"])
                samples: dict[str, list[float]] = {}
                for label, (name, payload) in requests.items():
                    ops = {
                        f"{label}, {protocol}": caller(name, payload, http)
                        for protocol, http in protocols.items()
                    }
                    for op in ops.values():
                        for _ in range(200):  # warm: caches, pools, prepared statements
                            await op()
                    if profile is not None:
                        import cProfile
                        import io
                        import pstats

                        op = ops[f"{label}, {next(reversed(protocols))}"]
                        profiler = cProfile.Profile(time.process_time)
                        profiler.enable()
                        for _ in range(500):
                            await op()
                        profiler.disable()
                        text = io.StringIO()
                        stats = pstats.Stats(profiler, stream=text)
                        stats.sort_stats("tottime").print_stats(40)
                        stats.sort_stats("cumulative").print_stats(60)
                        out = Path(profile) / f"{name}.txt"
                        out.parent.mkdir(parents=True, exist_ok=True)
                        out.write_text(text.getvalue())
                        print(f"  profile of {label} (cProfile of CPU time, 500 calls): {out}")
                    for key in ops:
                        samples[key] = []
                    for _ in range(rounds):  # alternated, so other work on the machine hits each
                        for key, op in ops.items():
                            samples[key].append(await cpu_per_op(op, 300, 1))
                return samples

        uvloop.install()  # the loop uvicorn serves the subgraphs on
        for label, values in asyncio.run(measure()).items():
            print(
                f"{label}: CPU µs per request, median {statistics.median(values):,.0f}, "
                f"min {min(values):,.0f} (rounds: {', '.join(f'{v:,.0f}' for v in values)})"
            )
    finally:
        cluster.stop()


# The fetches the router sends courses for the apps' pages (`coursegraph router plan` of
# clients/operations: Catalog, CoursePage, MyLearning), verbatim.
_CATALOG_FETCH = """query ($after: String, $first: Int = 20, $freeOnly: Boolean, $search: String) {
  courses(first: $first, after: $after, search: $search, freeOnly: $freeOnly) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id slug title isFree price { amount currency }
      lectureCount enrollmentCount teacher { id __typename } } }
  }
}"""
_COURSE_PAGE_FETCH = """query ($slug: String!) {
  course(slug: $slug) {
    id slug title description status isFree price { amount currency } publishedAt
    lectureCount enrollmentCount teacher { id __typename }
    sections { id title position
      lectures { id title position isPreview durationSeconds videoStatus } }
    viewerEnrollment { id status progressPercentage }
  }
}"""
_MY_LEARNING_FETCH = """{
  myEnrollments {
    id status progressPercentage totalWatchTime enrolledAt completedAt
    course { id slug title lectureCount }
    certificate { id code issuedAt }
  }
}"""


def bench_courses(rounds: int, count: int, profile: str | None) -> None:
    """The courses subgraph's schema executing the router's fetches for the catalog,
    search, course and my-learning pages against the smoke catalog (bench/catalog.py,
    2,000 courses) in an embedded PostgreSQL kept under bench/.work/kernel-courses. Each
    request gets a fresh context and loaders, as one over HTTP does; HTTP, the signature
    check and token verification (the kernel's, the same for every page) are left out."""
    import json
    import os
    import sys
    from pathlib import Path

    import asyncpg
    from argon2 import PasswordHasher

    from coursegraph.database import create_database
    from coursegraph.embedded_pg import EmbeddedPostgres, with_database
    from coursegraph.identity import Role, Viewer, scope_claim
    from coursegraph.settings import Settings
    from launcher import migrations
    from subgraphs.courses.bootstrap import bootstrap
    from subgraphs.courses.loaders import make_loaders
    from subgraphs.courses.schema import schema
    from subgraphs.courses.settings import CoursesSettings

    bench = Path(__file__).resolve().parent
    sys.path.insert(0, str(bench))
    import catalog

    os.environ["COURSEGRAPH_ENV"] = "test"
    embedded = EmbeddedPostgres(bench / ".work" / "kernel-courses")
    server = embedded.start()
    url = with_database(server, "coursegraph_bench")
    asyncio.run(create_database(server, "coursegraph_bench"))
    for subgraph in ("users", "courses"):
        migrations.upgrade(subgraph, url)

    async def fill() -> tuple[str, str]:
        """Generates the catalog once; a student with enrollments and a slug they hold."""
        connection = await asyncpg.connect(url.replace("+asyncpg", ""))
        try:
            if await catalog.generated_size(connection) is None:
                hashed = PasswordHasher().hash(catalog.PASSWORD)
                await catalog.generate(connection, catalog.SIZES["smoke"], hashed)
            row = await connection.fetchrow(
                "SELECT e.user_id, c.slug FROM courses.enrollments e "
                "JOIN courses.courses c ON c.id = e.course_id ORDER BY e.user_id, c.slug LIMIT 1"
            )
            return str(row["user_id"]), str(row["slug"])
        finally:
            await connection.close()

    student_id, slug = asyncio.run(fill())
    settings = Settings(_env_file=None, database_url=url, service_secret_key="bench")
    student = Viewer(student_id, Role.STUDENT, frozenset(scope_claim(Role.STUDENT).split()))

    # Each page's response (JSON) and, with `profile`, its cProfile tables: written to
    # `profile` at the end (or the responses to $BENCH_DUMP), for comparing two checkouts.
    outputs: dict[str, str] = {}

    async def measure() -> None:
        from coursegraph.context import RequestContext

        async with bootstrap(settings, CoursesSettings(), relay=False) as container:

            async def run(query: str, variables: dict[str, Any], viewer: Viewer | None) -> Any:
                context = RequestContext[Any, Any](
                    request=None,  # type: ignore[arg-type]
                    container=container,
                    loaders=make_loaders(container.courses, container.enrollments),
                    request_id="bench",
                    service="router",
                    _viewer=viewer,
                )
                result = await schema.execute(query, variables, context_value=context)
                if result.errors:
                    raise SystemExit(f"errors: {result.errors}")
                return result.data

            first = await run(_CATALOG_FETCH, {"first": 20}, None)
            after = first["courses"]["pageInfo"]["endCursor"]
            pages: dict[str, tuple[str, dict[str, Any], Viewer | None]] = {
                "catalog, first page": (_CATALOG_FETCH, {"first": 20}, None),
                "catalog, page 2": (_CATALOG_FETCH, {"first": 20, "after": after}, None),
                "catalog, free only": (_CATALOG_FETCH, {"first": 20, "freeOnly": True}, None),
                "search 'python'": (_CATALOG_FETCH, {"first": 20, "search": "python"}, None),
                "course page, signed in": (_COURSE_PAGE_FETCH, {"slug": slug}, student),
                "course page, anonymous": (_COURSE_PAGE_FETCH, {"slug": slug}, None),
                "my learning": (_MY_LEARNING_FETCH, {}, student),
            }
            for name, (query, variables, viewer) in pages.items():
                outputs[f"{name}.json"] = json.dumps(
                    await run(query, variables, viewer), indent=1, sort_keys=True, default=str
                )
            print(f"courses subgraph in-process: CPU µs per request, median of {rounds} x {count}")
            for name, (query, variables, viewer) in pages.items():

                async def op(q: str = query, v: dict[str, Any] = variables,
                             w: Viewer | None = viewer) -> object:  # fmt: skip
                    return await run(q, v, w)

                await cpu_per_op(op, 50, 1)  # warm: statement caches, the pool
                if profile:
                    import cProfile
                    import io
                    import pstats

                    profiler = cProfile.Profile(time.process_time)
                    profiler.enable()
                    await cpu_per_op(op, count, 1)
                    profiler.disable()
                    out = io.StringIO()
                    stats = pstats.Stats(profiler, stream=out)
                    stats.sort_stats("tottime").print_stats(25)
                    stats.sort_stats("cumulative").print_stats(40)
                    outputs[f"{name}.profile.txt"] = out.getvalue()
                cpu, wall = await per_op(op, count, rounds)
                left = await cyclic_garbage(op, 20)
                print(
                    f"  {name:<24} {cpu:8,.0f} µs CPU  {wall:8,.0f} µs wall"
                    f"  {left:6.1f} objects left to the cyclic collector"
                )

    import uvloop

    uvloop.install()
    try:
        asyncio.run(measure())
    finally:
        embedded.stop()
    target = profile or os.environ.get("BENCH_DUMP")
    if target:
        for name, text in outputs.items():
            Path(target, name.replace(" ", "_").replace("'", "").replace(",", "")).write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "what", choices=["nonce", "token", "db", "workers", "testquery", "subgraph", "courses"]
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10, help="seconds per N (workers)")
    parser.add_argument("--count", type=int, default=200, help="requests per round (courses)")
    parser.add_argument(
        "--concurrency", type=int, default=1, help="testquery: requests in flight at once"
    )
    parser.add_argument(
        "--profile", help="subgraph, courses: cProfile tables (and responses) in this directory"
    )
    args = parser.parse_args()
    if args.what == "workers":
        bench_workers(args.duration)
        return
    if args.what == "testquery":
        bench_testquery(args.rounds, args.concurrency)
        return
    if args.what == "subgraph":
        bench_subgraph(args.rounds, args.profile)
        return
    if args.what == "courses":
        bench_courses(args.rounds, args.count, args.profile)
        return
    bench = {"nonce": bench_nonce, "token": bench_token, "db": bench_db}[args.what]
    asyncio.run(bench(args.rounds))


if __name__ == "__main__":
    main()
