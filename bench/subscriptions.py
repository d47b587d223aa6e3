"""Subscriptions benchmark: what one router process holds and how fast events reach clients.

    .venv/bin/python bench/subscriptions.py [--subscribers 1000] [--events 5] [--every 2]

Starts the two Strawberry subgraphs of tests/router/live_subgraphs.py (graphql-transport-ws
behind the signed gate) in this process, the router as its own process (`coursegraph
router`, so its memory is its own), then opens `--subscribers` client WebSockets, one
subscription each (`orderUpdated { status item { title } }`: every event needs an entity
fetch to the second subgraph, per subscriber). It reports the router's resident memory
before and with the idle subscriptions held (per subscription: one client socket, one
upstream socket, the stream), then sends `--events` changes, one every `--every` seconds,
and reports the time from the change's mutation being sent to each subscriber's event
(p50, p99, max). Every subscriber uses one token, so with `--deduplicate` the router
sends each event's entity fetch once for all of them (traffic.deduplicate_queries); without
it, one per subscriber. The router runs with token verification and authorization off (the
subgraph still verifies each forwarded token): per-event work is what is measured.
Bounded: it stops after the last event, or after `--timeout` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _gate_parts() -> tuple[ServiceVerifier, TokenVerifier]:
    services = ServiceVerifier({"router": SETTINGS.service_key("router")}, MemoryNonceStore())
    tokens = TokenVerifier(
        JWKSCache(_static_jwks), algorithm="RS256", issuer=TOKEN_ISSUER, audience=TOKEN_AUDIENCE
    )
    return services, tokens


async def _subscriber(url: str, token: str) -> ClientConnection:
    ws = await connect(url, subprotocols=[PROTOCOL], max_queue=None)
    init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
    await ws.send(orjson.dumps(init).decode())
    assert orjson.loads(await ws.recv())["type"] == "connection_ack"
    subscribe = {"id": "1", "type": "subscribe", "payload": {"query": QUERY}}
    await ws.send(orjson.dumps(subscribe).decode())
    first = orjson.loads(await ws.recv())
    assert first["type"] == "next", first
    return ws


async def _arrival(ws: ClientConnection, status: str, sent: float) -> float:
    message = orjson.loads(await ws.recv())
    data = message.get("payload", {}).get("data")
    assert data, message
    assert data["orderUpdated"]["status"] == status, message
    return time.perf_counter() - sent


async def _run(args: argparse.Namespace, router_url: str, router_pid: int) -> dict[str, Any]:
    token = make_token(sub="u1", exp=int(time.time()) + 3600)
    ws_url = router_url.replace("http://", "ws://") + "/graphql"
    baseline = _rss_mib(router_pid)
    gate = asyncio.Semaphore(50)

    async def one() -> ClientConnection:
        async with gate:
            return await _subscriber(ws_url, token)

    started = time.perf_counter()
    sockets = await asyncio.gather(*(one() for _ in range(args.subscribers)))
    opened_seconds = time.perf_counter() - started
    await asyncio.sleep(2)  # idle: let the router settle
    held = _rss_mib(router_pid)
    latencies: list[float] = []
    async with httpx.AsyncClient(timeout=30) as client:
        for n in range(args.events):
            status = f"S{n}"
            sent = time.perf_counter()
            # Every subscriber waits before the change is sent: arrival is timed as it lands.
            arrivals = [asyncio.ensure_future(_arrival(ws, status, sent)) for ws in sockets]
            answer = await client.post(
                f"{router_url}/graphql",
                json={"query": MUTATION, "variables": {"s": status}},
                headers={"authorization": f"Bearer {token}"},
            )
            assert answer.json()["data"]["setOrderStatus"]["status"] == status
            latencies.extend(await asyncio.gather(*arrivals))
            await asyncio.sleep(args.every)
    for ws in sockets:
        await ws.close()
    latencies.sort()
    return {
        "subscribers": args.subscribers,
        "deduplicate_queries": args.deduplicate,
        "open_seconds": round(opened_seconds, 2),
        "router_rss_mib_before": round(baseline, 1),
        "router_rss_mib_held": round(held, 1),
        "kib_per_subscription": round((held - baseline) * 1024 / args.subscribers, 1),
        "events": args.events,
        "latency_ms_p50": round(statistics.median(latencies) * 1000, 1),
        "latency_ms_p99": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
        "latency_ms_max": round(latencies[-1] * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--events", type=int, default=5)
    parser.add_argument("--every", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument(
        "--deduplicate",
        action="store_true",
        help="traffic.deduplicate_queries: subscribers with one token share each entity fetch",
    )
    args = parser.parse_args()
    services, tokens = _gate_parts()
    orders = ServerThread(live_subgraphs.orders_app(services, tokens)).start()
    catalog = ServerThread(live_subgraphs.catalog_app(*_gate_parts())).start()
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
    (work / "router.yaml").write_text(
        "auth: {verify_tokens: false}\nauthorization: {enabled: false}\n"
        f"subscriptions: {{max_per_client: {args.subscribers + 10}}}\n"
        "limits: {cost_extension: false}\n"
        f"traffic: {{deduplicate_queries: {'true' if args.deduplicate else 'false'}}}\n",
        encoding="utf-8",
    )
    port = _free_port()
    env = {
        **os.environ,
        "SERVICE_SECRET_KEY": TEST_SERVICE_SECRET,
        "COURSEGRAPH_ENV": "development",
        "LOG_LEVEL": "WARNING",
    }
    router = subprocess.Popen(
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
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the router did not start")
            time.sleep(0.2)
        result = asyncio.run(asyncio.wait_for(_run(args, url, router.pid), args.timeout))
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    finally:
        router.terminate()
        router.wait(timeout=30)
        orders.stop()
        catalog.stop()


if __name__ == "__main__":
    main()
