"""Subscriptions benchmark: how many idle subscriptions one gateway process holds, its
memory per subscription, and how fast events reach clients.

    .venv/bin/python bench/subscriptions.py [--gateway coursegraph|hive] [--levels 1000,10000]
        [--latency-at 1000] [--events 5] [--every 2] [--clients 4] [--deduplicate]
        [--timeout 600]

Starts the two Strawberry subgraphs of tests/router/live_subgraphs.py (graphql-transport-ws
behind the signed gate) in this process, the gateway as its own process (our router:
`coursegraph router --workers 1`; Hive Gateway: `--fork 1`, bench/gateways/
hive-subscriptions.config.mjs, binary from HIVE_GATEWAY_BIN or PATH, the subgraphs then
also taking its shared router credential), and `--clients` client processes
(multiprocessing), each holding its share of the client WebSockets, one subscription each
(`orderUpdated { status item { title } }`: every event needs an entity fetch to the second
subgraph). Clients in their own processes keep the benchmark's event loop out of the
gateway's latency.

It opens subscriptions up to each of `--levels` in turn (then 2 s idle to settle) and
reports, per level, the gateway's resident memory (its process tree) over its baseline per
subscription, its open files and the upstream sockets the orders subgraph holds. At the
level `--latency-at` it sends `--events` changes, one every `--every` seconds, and reports
the time from the change's mutation being sent to each subscriber's event (p50, p99, max;
one monotonic clock for all processes). Every subscriber uses one token and the client
address, so our router shares upstream sockets (100 a socket); with `--deduplicate` it
sends each event's entity fetch once for all of them (traffic.deduplicate_queries), without
it, one per subscriber. Our router runs with token verification and authorization off (the
subgraph still verifies each forwarded token): per-event work is what is measured. The
open-files limit is raised to the hard limit for every process. Bounded: everything stops
after `--timeout` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO_ROOT = BENCH.parent
sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402
import orjson  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402
from websockets.typing import Subprotocol  # noqa: E402

from coursegraph.identity import JWKSCache, TokenVerifier  # noqa: E402
from coursegraph.service_auth import MemoryNonceStore, ServiceVerifier  # noqa: E402
from coursegraph.testing import ServerThread  # noqa: E402
from router.composition import SubgraphSource, compose  # noqa: E402
from tests.helpers import TEST_SERVICE_SECRET  # noqa: E402
from tests.router import live_subgraphs  # noqa: E402
from tests.router.conftest import (  # noqa: E402
    SETTINGS,
    TOKEN_AUDIENCE,
    TOKEN_ISSUER,
    _static_jwks,
    make_token,
)

QUERY = 'subscription { orderUpdated(orderId: "o1") { status item { title } } }'
MUTATION = 'mutation($s: String!) { setOrderStatus(id: "o1", status: $s) { status } }'
PROTOCOL = Subprotocol("graphql-transport-ws")
# Handshakes in flight per client process.
OPENING = 25


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _raise_open_files() -> int:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (a gateway may fork workers)."""
    pids = [pid]
    for task in os.listdir(f"/proc/{pid}/task"):
        children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
        for child in children:
            pids.extend(_tree(int(child)))
    return pids


def _rss_mib(pid: int) -> float:
    total = 0
    for member in _tree(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def _open_files(pid: int) -> int:
    return sum(len(os.listdir(f"/proc/{member}/fd")) for member in _tree(pid))


def _gate_parts() -> tuple[ServiceVerifier, TokenVerifier]:
    services = ServiceVerifier({"router": SETTINGS.service_key("router")}, MemoryNonceStore())
    tokens = TokenVerifier(
        JWKSCache(_static_jwks), algorithm="RS256", issuer=TOKEN_ISSUER, audience=TOKEN_AUDIENCE
    )
    return services, tokens


# --- client processes -------------------------------------------------------------------


class _Clients:
    """One client process's sockets; each records when every event arrived, by status."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.sockets: list[ClientConnection] = []
        self.arrivals: dict[str, list[float]] = {}
        self.arrived: dict[str, asyncio.Event] = {}
        self.readers: list[asyncio.Task[None]] = []
        self.gate = asyncio.Semaphore(OPENING)

    async def open_one(self) -> None:
        async with self.gate:
            init = {"Authorization": f"Bearer {self.token}"}
            ws = await connect(
                self.url,
                subprotocols=[PROTOCOL],
                additional_headers=init,
                max_queue=None,
                open_timeout=60,
            )
            try:
                async with asyncio.timeout(60):
                    await ws.send(
                        orjson.dumps({"type": "connection_init", "payload": init}).decode()
                    )
                    ack = orjson.loads(await ws.recv())
                    if ack["type"] != "connection_ack":
                        raise RuntimeError(f"no connection_ack: {ack}")
                    subscribe = {"id": "1", "type": "subscribe", "payload": {"query": QUERY}}
                    await ws.send(orjson.dumps(subscribe).decode())
                    first = orjson.loads(await ws.recv())
                    if first["type"] != "next" or first["payload"].get("errors"):
                        raise RuntimeError(f"subscription {len(self.sockets) + 1}: {first}")
            except BaseException:
                await ws.close()
                raise
        self.sockets.append(ws)
        self.readers.append(asyncio.create_task(self.read(ws)))

    async def read(self, ws: ClientConnection) -> None:
        async for raw in ws:
            now = time.monotonic()
            message = orjson.loads(raw)
            data = (message.get("payload") or {}).get("data")
            assert data, message
            status = data["orderUpdated"]["status"]
            arrivals = self.arrivals.setdefault(status, [])
            arrivals.append(now)
            if len(arrivals) == len(self.sockets):
                self.arrived.setdefault(status, asyncio.Event()).set()

    async def collect(self, status: str) -> list[float]:
        """Arrival times of the event with `status`, once every socket has it."""
        event = self.arrived.setdefault(status, asyncio.Event())
        if len(self.arrivals.get(status, ())) < len(self.sockets):
            await event.wait()
        return self.arrivals.pop(status)


async def _client_loop(pipe: Connection, url: str, token: str) -> None:
    """Answers the main process's commands; a failure is answered as ("failed", why)."""
    clients = _Clients(url, token)
    loop = asyncio.get_running_loop()
    while True:
        command, argument = await loop.run_in_executor(None, pipe.recv)
        try:
            if command == "open":
                await asyncio.gather(*(clients.open_one() for _ in range(argument)))
                pipe.send(len(clients.sockets))
            elif command == "collect":
                status, seconds = argument
                async with asyncio.timeout(seconds):
                    pipe.send(await clients.collect(status))
        except Exception as exc:
            pipe.send(("failed", f"{type(exc).__name__}: {exc}"))
        if command == "close":
            for reader in clients.readers:
                reader.cancel()
            await asyncio.gather(*(ws.close() for ws in clients.sockets))
            pipe.send(None)
            return


def _client_process(pipe: Connection, url: str, token: str) -> None:
    _raise_open_files()
    asyncio.run(_client_loop(pipe, url, token))


# --- the benchmark ------------------------------------------------------------------------


def _ask(pipes: list[Connection], commands: list[tuple[str, Any]], timeout: float) -> list[Any]:
    for pipe, command in zip(pipes, commands, strict=True):
        pipe.send(command)
    answers = []
    for pipe in pipes:
        if not pipe.poll(timeout):
            raise SystemExit("a client process did not answer in time")
        answer = pipe.recv()
        if isinstance(answer, tuple) and answer[0] == "failed":
            raise SystemExit(f"a client failed: {answer[1][:2000]}")
        answers.append(answer)
    return answers


def _shares(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if n < total % parts else 0) for n in range(parts)]


def _run(
    args: argparse.Namespace, gateway_url: str, gateway_pid: int, orders: live_subgraphs.Gate
) -> dict[str, Any]:
    deadline = time.monotonic() + args.timeout
    token = make_token(sub="u1", exp=int(time.time()) + 3600)
    ws_url = gateway_url.replace("http://", "ws://") + "/graphql"
    context = multiprocessing.get_context("spawn")
    pipes: list[Connection] = []
    processes = []
    for _ in range(args.clients):
        ours, theirs = context.Pipe()
        process = context.Process(target=_client_process, args=(theirs, ws_url, token), daemon=True)
        process.start()
        pipes.append(ours)
        processes.append(process)
    result: dict[str, Any] = {
        # Hive Gateway: its HTTP transport's in-flight de-duplication is on by default.
        "deduplicate_queries": args.deduplicate if args.gateway == "coursegraph" else True,
        "client_processes": args.clients,
        "subgraph_cap_per_socket": args.subgraph_cap or None,
        "load_average_at_start": os.getloadavg(),
    }
    try:
        baseline = _rss_mib(gateway_pid)
        result["gateway_rss_mib_baseline"] = round(baseline, 1)
        levels = []
        held = 0
        for level in args.levels:
            started = time.monotonic()
            _ask(
                pipes,
                [("open", n) for n in _shares(level - held, args.clients)],
                deadline - time.monotonic(),
            )
            held = level
            opened = time.monotonic() - started
            time.sleep(2)  # idle: let the router settle
            rss = _rss_mib(gateway_pid)
            row: dict[str, Any] = {
                "subscriptions": level,
                "open_seconds": round(opened, 1),
                "gateway_rss_mib": round(rss, 1),
                "kib_per_subscription": round((rss - baseline) * 1024 / level, 1),
                "gateway_open_files": _open_files(gateway_pid),
                # As the orders subgraph counts them.
                "upstream_sockets": orders.open_sockets,
            }
            if level == args.latency_at:
                row.update(_latency(args, gateway_url, token, pipes, deadline))
            levels.append(row)
            print(orjson.dumps(row).decode(), file=sys.stderr, flush=True)
        result["levels"] = levels
        result["load_average_at_end"] = os.getloadavg()
    finally:
        for pipe in pipes:
            with contextlib.suppress(OSError):
                pipe.send(("close", None))
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
    return result


def _latency(
    args: argparse.Namespace,
    gateway_url: str,
    token: str,
    pipes: list[Connection],
    deadline: float,
) -> dict[str, Any]:
    latencies: list[float] = []
    with httpx.Client(timeout=30) as client:
        for n in range(args.events):
            status = f"S{n}"
            sent = time.monotonic()
            answer = client.post(
                f"{gateway_url}/graphql",
                json={"query": MUTATION, "variables": {"s": status}},
                headers={"authorization": f"Bearer {token}"},
            )
            assert answer.json()["data"]["setOrderStatus"]["status"] == status
            wait = deadline - time.monotonic()
            for arrivals in _ask(pipes, [("collect", (status, wait))] * len(pipes), wait + 5):
                latencies.extend(at - sent for at in arrivals)
            time.sleep(args.every)
    latencies.sort()
    return {
        "events": args.events,
        "latency_ms_p50": round(statistics.median(latencies) * 1000, 1),
        "latency_ms_p99": round(latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000, 1),
        "latency_ms_max": round(latencies[-1] * 1000, 1),
    }


def _router(args: argparse.Namespace, work: Path, port: int) -> subprocess.Popen[bytes]:
    """Our router, one worker process."""
    (work / "router.yaml").write_text(
        "auth: {verify_tokens: false}\nauthorization: {enabled: false}\n"
        f"subscriptions: {{max_per_client: {args.levels[-1] + 10}}}\n"
        "limits: {cost_extension: false}\n"
        f"traffic: {{deduplicate_queries: {'true' if args.deduplicate else 'false'}}}\n",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "SERVICE_SECRET_KEY": TEST_SERVICE_SECRET,
        "COURSEGRAPH_ENV": "development",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "coursegraph"),
            "router",
            "--supergraph",
            str(work / "supergraph.graphql"),
            "--config",
            str(work / "router.yaml"),
            "--port",
            str(port),
            "--no-watch",
            "--workers",
            "1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )


def _hive_gateway(work: Path, port: int, credential: str) -> subprocess.Popen[bytes]:
    """Hive Gateway (HIVE_GATEWAY_BIN, or `hive-gateway` on PATH; README "Behind another
    router" installs it outside the repository), one worker, on the same subgraphs."""
    binary = os.environ.get("HIVE_GATEWAY_BIN") or shutil.which("hive-gateway")
    if binary is None:
        raise SystemExit("no hive-gateway binary: set HIVE_GATEWAY_BIN or put it on PATH")
    config = BENCH / "gateways" / "hive-subscriptions.config.mjs"
    log = (work / "hive-gateway.log").open("ab")
    return subprocess.Popen(
        [binary, "supergraph", str(work / "supergraph.graphql"), "-c", str(config),
         "--host", "127.0.0.1", "--port", str(port), "--fork", "1"],
        env={**os.environ, "NODE_ENV": "production", "ROUTER_SHARED_SECRET": credential},
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=work,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--levels",
        type=lambda text: sorted(int(n) for n in text.split(",")),
        default=[1000, 10000],
        help="subscription counts to hold in turn (comma-separated)",
    )
    parser.add_argument("--latency-at", type=int, default=1000)
    parser.add_argument("--events", type=int, default=5)
    parser.add_argument("--every", type=float, default=2.0)
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--gateway", choices=("coursegraph", "hive"), default="coursegraph")
    parser.add_argument(
        "--subgraph-cap",
        type=int,
        default=100,
        help="subscriptions one orders socket may hold (0: no cap; Hive Gateway puts every "
        "subscription with the same headers on one socket)",
    )
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument(
        "--deduplicate",
        action="store_true",
        help="traffic.deduplicate_queries: subscribers with one token share each entity fetch",
    )
    args = parser.parse_args()
    # SIGTERM (e.g. `timeout`) unwinds like Ctrl-C: the gateway and clients are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    limit = _raise_open_files()
    if args.levels[-1] + 200 > limit:
        raise SystemExit(f"the open-files limit ({limit}) is too low for {args.levels[-1]}")
    credential = secrets.token_hex(32) if args.gateway == "hive" else None
    services, tokens = _gate_parts()
    orders_gate = live_subgraphs.orders_app(services, tokens, credential, args.subgraph_cap or None)
    orders = ServerThread(orders_gate).start()
    catalog = ServerThread(live_subgraphs.catalog_app(*_gate_parts(), credential)).start()
    work = Path(tempfile.mkdtemp(prefix="bench-subscriptions-"))
    supergraph = compose(
        [
            SubgraphSource(
                "orders", f"{orders.url}/graphql", live_subgraphs.ORDERS_SCHEMA.as_str()
            ),
            SubgraphSource(
                "catalog", f"{catalog.url}/graphql", live_subgraphs.CATALOG_SCHEMA.as_str()
            ),
        ]
    ).raise_for_errors()
    (work / "supergraph.graphql").write_text(supergraph, encoding="utf-8")
    port = _free_port()
    if credential is not None:
        gateway = _hive_gateway(work, port, credential)
        ready = f"http://127.0.0.1:{port}/readiness"
    else:
        gateway = _router(args, work, port)
        ready = f"http://127.0.0.1:{port}/health"
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(ready, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if gateway.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the gateway did not start (see {work})")
            time.sleep(0.2)
        result = {"gateway": args.gateway, **_run(args, url, gateway.pid, orders_gate)}
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    finally:
        gateway.terminate()
        try:
            gateway.wait(timeout=30)
        except subprocess.TimeoutExpired:
            gateway.kill()
            gateway.wait(timeout=10)
        orders.stop()
        catalog.stop()


if __name__ == "__main__":
    main()
