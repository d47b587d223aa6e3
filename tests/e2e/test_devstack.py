"""`coursegraph dev` as a newcomer runs it: demo data, the subgraphs and the router on
the configured ports, GraphiQL, Ctrl-C stops everything, a second start finds everything and
duplicates nothing, and a crashed subgraph or router is started again."""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from coursegraph.settings import SUBGRAPHS
from subgraphs.courses.seed import STUDENTS, TEACHERS
from tests.e2e.stack import Service, clean_environment, free_ports, fresh_database

# Two starts of the whole stack on 2 cores, each well under this.
START_TIMEOUT_SECONDS = 60.0


@pytest.fixture
def dev_database_url(database_server_url: str) -> Iterator[str]:
    # Empty: `coursegraph dev` migrates it itself.
    with fresh_database(database_server_url, "coursegraph_dev", migrate=False) as url:
        yield url


def _log_until(service: Service, log_offset: int, expected: str) -> str:
    """The log written since `log_offset`, once it contains `expected`."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        # Offsets are byte sizes of the log (stat), so slice bytes, not characters.
        text = service.log_path.read_bytes()[log_offset:].decode(errors="replace")
        if expected in text:
            return text
        assert service.process is not None
        assert service.process.poll() is None, f"coursegraph dev exited:\n{service.tail()}"
        assert time.monotonic() < deadline, f"no {expected!r} in the log:\n{service.tail()}"
        time.sleep(0.1)


def _welcome(service: Service, log_offset: int) -> str:
    """The part of the log written by this start, once the welcome text is complete."""
    return _log_until(service, log_offset, "mutation { login(")


def _interrupt(service: Service) -> int:
    """Ctrl-C, sent by PID as the terminal would."""
    assert service.process is not None
    os.kill(service.process.pid, signal.SIGINT)
    return service.process.wait(timeout=30)


def _dev(database_url: str, workdir: Path) -> tuple[Service, dict[str, int]]:
    """`coursegraph dev` on free ports (never the default 3000-3008), and those ports."""
    # The mail sink's and NATS' ports too (MAIL_SINK_PORT, NATS_PORT, NATS_MONITOR_PORT).
    names = ["router", *SUBGRAPHS, "mail_sink", "nats", "nats_monitor"]
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    env = {
        **clean_environment(),
        "PYTHONUNBUFFERED": "1",
        "COURSEGRAPH_DATA_DIR": str(workdir / "data"),
        "DATABASE_URL": database_url,
        "DATABASE_POOL_SIZE": "4",
        "LOG_LEVEL": "WARNING",
        **{f"{name.upper()}_PORT": str(port) for name, port in ports.items()},
    }
    command = [sys.executable, "-m", "launcher.cli", "dev"]
    return Service("dev", command, ports["router"], env, workdir), ports


def _assert_all_stopped(ports: dict[str, int]) -> None:
    for port in ports.values():
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)


def test_dev_runs_the_stack_with_demo_data_and_stops_on_ctrl_c(
    dev_database_url: str, tmp_path: Path
) -> None:
    dev, ports = _dev(dev_database_url, tmp_path)
    graphql = f"{dev.url}/graphql"
    try:
        dev.start()
        welcome = _welcome(dev, 0)
        # The first start says what it is doing, step by step.
        for step in ("PostgreSQL: ready", "Migrations:", "Demo data: ready", "router is up"):
            assert f"[dev] {step}" in welcome
        assert f"Open GraphiQL:  {dev.url}/" in welcome
        assert "30 courses created" in welcome
        for name in SUBGRAPHS:
            assert f"127.0.0.1:{ports[name]}/graphql" in welcome
        assert f"127.0.0.1:{ports['notifications']}/dev/mailbox" in welcome

        catalog = httpx.post(
            graphql,
            json={
                "query": "{ courses(first: 3) { totalCount edges { node { teacher { name } } } } }"
            },
            timeout=30,
        ).json()
        assert "errors" not in catalog, catalog
        assert catalog["data"]["courses"]["totalCount"] > 20
        explorer = httpx.get(graphql, headers={"accept": "text/html"}, timeout=30)
        assert explorer.status_code == 200
        assert "graphiql" in explorer.text.lower()
        for email, _ in (*TEACHERS, *STUDENTS):
            assert email in welcome  # every demo account is printed

        # A developer trying wrong passwords locks the demo student out …
        login = 'mutation { login(email: "sam.student@example.com", password: "no") { expiresIn } }'
        answers = [httpx.post(graphql, json={"query": login}, timeout=30) for _ in range(6)]
        codes = [answer.json()["errors"][0]["extensions"]["code"] for answer in answers]
        assert codes[-1] == "RATE_LIMITED"

        assert _interrupt(dev) == 0
        _assert_all_stopped(ports)

        offset = dev.log_path.stat().st_size
        dev.start()
        again = _welcome(dev, offset)  # … and the demo data is loaded again all the same
        assert "0 courses created, 30 existed" in again
        assert _interrupt(dev) == 0
    finally:
        dev.stop()


CATALOG = {"query": "{ courses(first: 2) { totalCount edges { node { teacher { name } } } } }"}


def test_dev_restarts_a_crashed_subgraph_and_router(dev_database_url: str, tmp_path: Path) -> None:
    dev, ports = _dev(dev_database_url, tmp_path)
    graphql = f"{dev.url}/graphql"
    try:
        dev.start()
        welcome = _welcome(dev, 0)
        pids = {
            name: int(pid)
            for name, pid in re.findall(r"\[dev\] (\w+) is up: \S+ \(pid (\d+)\)", welcome)
        }
        assert set(pids) == {"router", "nats", *SUBGRAPHS}
        for name in ("courses", "router"):
            offset = dev.log_path.stat().st_size
            os.kill(pids[name], signal.SIGKILL)
            log = _log_until(dev, offset, f"[dev] {name} is serving again")
            assert f"[dev] {name} (pid {pids[name]}) was killed by SIGKILL; restarting in" in log
            restarted = re.search(rf"\[dev\] {name}: started again \(pid (\d+)\)", log)
            assert restarted is not None, log
            assert int(restarted.group(1)) != pids[name]
            # Served through the router again: courses for the catalog, users for teachers.
            catalog = httpx.post(graphql, json=CATALOG, timeout=30).json()
            assert "errors" not in catalog, catalog
            assert catalog["data"]["courses"]["edges"][0]["node"]["teacher"]["name"]
        # An impatient double Ctrl-C still stops everything in order.
        assert dev.process is not None
        os.kill(dev.process.pid, signal.SIGINT)
        assert _interrupt(dev) == 0
        _assert_all_stopped(ports)
    finally:
        dev.stop()
