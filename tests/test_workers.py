"""`--workers N`: real processes, one socket, every worker answering."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from coursegraph.settings import Settings
from tests.helpers import REPO_ROOT, cli_environment, run_cli

BASIC_SUPERGRAPH = REPO_ROOT / "tests" / "router" / "graphs" / "basic" / "supergraph.graphql"
START_TIMEOUT_SECONDS = 120  # a readiness bound on a loaded machine, not an assertion


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _parent_of(pid: int) -> int:
    # /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after ")".
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def _health_pid(url: str) -> int | None:
    try:
        # A new connection each time, so the kernel may hand it to any worker.
        response = httpx.get(url, timeout=10.0, headers={"connection": "close"})
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    pid: int = response.json()["pid"]
    return pid


def _workers_answering(process: subprocess.Popen[bytes], url: str, log: Path) -> set[int]:
    """The pids that answer, asked until two have (a worker still starting on a loaded
    machine answers later) or the process ends or the readiness bound passes."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    seen: set[int] = set()
    with ThreadPoolExecutor(max_workers=8) as pool:
        while len(seen) < 2 and process.poll() is None and time.monotonic() < deadline:
            seen.update(p for p in pool.map(_health_pid, [url] * 16) if p is not None)
    if process.poll() is not None:
        pytest.fail(f"{url} stopped:\n{log.read_text(errors='replace')[-3000:]}")
    return seen


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; each is stopped with SIGTERM (then SIGKILL) at the end."""
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _start(
    settings: Settings, log: Path, args: list[str], env: dict[str, str]
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "launcher.cli", *args],
            env=cli_environment(settings, env),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )


def _check_two_workers(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    pids = _workers_answering(process, url, log)
    assert len(pids) == 2, f"{pids}\n{log.read_text(errors='replace')[-3000:]}"
    assert process.pid not in pids
    assert {_parent_of(pid) for pid in pids} == {process.pid}
    process.terminate()
    assert process.wait(timeout=60) == 0
    for pid in pids:  # the supervisor stopped and reaped its workers before exiting
        assert not Path(f"/proc/{pid}").exists()


def test_a_subgraph_serves_from_two_workers(
    settings: Settings, redis_url: str, tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    port = _free_port()
    log = tmp_path / "courses.log"
    args = ["serve", "courses", "--port", str(port), "--workers", "2"]
    started.append(_start(settings, log, args, {"REDIS_URL": redis_url}))
    _check_two_workers(started[0], f"http://127.0.0.1:{port}/health", log)


def test_the_router_serves_from_two_workers(
    settings: Settings, tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    port = _free_port()
    log = tmp_path / "router.log"
    args = ["router", "--supergraph", str(BASIC_SUPERGRAPH), "--no-watch"]
    args += ["--port", str(port), "--workers", "2"]
    started.append(_start(settings, log, args, {}))
    _check_two_workers(started[0], f"http://127.0.0.1:{port}/health", log)


def test_several_subgraph_workers_need_shared_nonces(settings: Settings) -> None:
    refused = run_cli(settings, "serve", "courses", "--workers", "2", env={"REDIS_URL": ""})
    assert refused.returncode != 0
    assert "REDIS_URL" in refused.stderr
