"""Rate limiting: per-client buckets (user id, else address), cost classes, stricter
login/register buckets; memory and Redis, where two routers share one budget."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import redis
import yaml

from tests.e2e.stack import START_TIMEOUT_SECONDS
from tests.router.conftest import RouterFactory, Stack, closed_port, free_port, make_token
from tests.router.graphs.loader import GRAPHS

QUERY = {"query": "{ me { id } }"}


def _post(url: str, body: dict[str, Any] = QUERY, **headers: str) -> httpx.Response:
    return httpx.post(f"{url}/graphql", json=body, headers=headers, timeout=10)


def _limits(**extra: Any) -> dict[str, Any]:
    return {
        "enabled": True,
        "per_client": {"capacity": 3, "refill_per_second": 0.01},
        **extra,
    }


def test_client_bucket_refuses_with_retry_after(serve_router: RouterFactory) -> None:
    url = serve_router(rate_limit=_limits())
    for _ in range(3):
        assert _post(url).status_code == 200
    refused = _post(url)
    assert refused.status_code == 429
    error = refused.json()["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    retry_after = error["extensions"]["retryAfter"]
    assert retry_after >= 1
    assert refused.headers["retry-after"] == str(retry_after)


def test_signed_in_users_have_their_own_buckets(serve_router: RouterFactory) -> None:
    url = serve_router(rate_limit=_limits(), authenticated=True)
    alice = f"Bearer {make_token(sub='alice')}"
    bob = f"Bearer {make_token(sub='bob')}"
    for _ in range(3):
        assert _post(url, authorization=alice).status_code == 200
    assert _post(url, authorization=alice).status_code == 429
    # Same address, another user: another budget; anonymous requests use the address's.
    assert _post(url, authorization=bob).status_code == 200
    assert _post(url).status_code == 200


def test_login_and_register_are_stricter(serve_router: RouterFactory) -> None:
    url = serve_router(
        rate_limit=_limits(
            per_client={"capacity": 100, "refill_per_second": 1},
            sensitive_fields=["me"],
            sensitive={"capacity": 2, "refill_per_second": 0.01},
        )
    )
    assert _post(url).status_code == 200
    assert _post(url).status_code == 200
    assert _post(url).status_code == 429
    # Other operations of the same client still run: the refused one drained nothing else.
    assert _post(url, {"query": "{ users { id } }"}).status_code == 200


def test_cost_classes(serve_router: RouterFactory) -> None:
    url = serve_router(
        rate_limit=_limits(
            per_client={"capacity": 100, "refill_per_second": 1},
            cost_classes={"heavy": {"min_cost": 50, "capacity": 1, "refill_per_second": 0.01}},
        )
    )
    heavy = {"query": "{ topProducts(first: 60) { name } }"}
    assert _post(url, heavy).status_code == 200
    assert _post(url, heavy).status_code == 429
    light = {"query": "{ topProducts(first: 2) { name } }"}
    assert _post(url, light).status_code == 200


def test_two_routers_share_one_budget_in_redis(
    serve_router: RouterFactory, redis_url: str, redis_prefix: str
) -> None:
    config = _limits(
        store="redis",
        redis_url=redis_url,
        key_prefix=redis_prefix,
        per_client={"capacity": 4, "refill_per_second": 0.01},
    )
    first = serve_router(rate_limit=config)
    second = serve_router(rate_limit=config)
    statuses = [_post(url).status_code for url in (first, second, first, second, first, second)]
    assert statuses == [200, 200, 200, 200, 429, 429]
    client = redis.Redis.from_url(redis_url)
    assert list(client.scan_iter(f"{redis_prefix}client:*"))
    client.close()


def test_redis_outage_lets_requests_through(serve_router: RouterFactory) -> None:
    url = serve_router(
        rate_limit=_limits(store="redis", redis_url=f"redis://127.0.0.1:{closed_port()}/14")
    )
    assert [_post(url).status_code for _ in range(5)] == [200] * 5


def _start_router_process(config: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "coursegraph"),
            "router",
            "--supergraph",
            str(GRAPHS / "basic" / "supergraph.graphql"),
            "--config",
            str(config),
            "--port",
            str(port),
            "--no-watch",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_healthy(url: str) -> None:
    # A start-up bound, not a timing claim: a router process takes 8-14 s to start on a
    # 2-core machine at load 12-25 (the whole suite on two workers).
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"router at {url} did not start")


def test_two_router_processes_share_one_budget(
    stack: Stack, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """As deployed: separate `coursegraph router` processes, one Redis."""
    subgraphs = {
        name: {"url": f"{stack.subgraph_url}/basic/{name}/graphql"}
        for name in ("accounts", "inventory", "products", "reviews")
    }
    config = tmp_path / "router.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "subgraphs": subgraphs,
                "rate_limit": _limits(
                    store="redis",
                    redis_url=redis_url,
                    key_prefix=redis_prefix,
                    per_client={"capacity": 4, "refill_per_second": 0.01},
                ),
            }
        ),
        encoding="utf-8",
    )
    ports = [free_port(), free_port()]
    processes = [_start_router_process(config, port) for port in ports]
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url in urls:
            _wait_healthy(url)
        statuses = [_post(urls[i % 2]).status_code for i in range(6)]
        assert statuses == [200, 200, 200, 200, 429, 429]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)
