"""The real stack as separate processes: five subgraphs and the router, each a
`python -m launcher.cli …` child on its own free port, stopped by PID.

The processes are configured only through their environment and command line, as a
deployment configures them; nothing of theirs runs in the test process.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from coursegraph.database import create_database, drop_database
from coursegraph.embedded_pg import with_database
from coursegraph.settings import SUBGRAPHS
from launcher import migrations, subgraph_registry
from router.composition import compose_config
from tests.services import worker_name
from tests.variables import all_variable_names

REPO_ROOT = Path(__file__).resolve().parents[2]
# Start-up of five Python processes on a 2-core machine: imports dominate.
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0
PYTHON = [sys.executable, "-m", "launcher.cli"]


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports: all sockets are held open together so none repeats."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


@contextmanager
def fresh_database(server_url: str, prefix: str, *, migrate: bool = True) -> Iterator[str]:
    """A database of its own on the test server, dropped afterwards.

    A stack never shares its database: other packages truncate the shared test database
    between tests, and any other stack's outbox relays and processing worker would claim
    this stack's rows (`FOR UPDATE SKIP LOCKED` takes whatever is due).
    """
    name = f"{prefix}_{worker_name()}_{secrets.token_hex(4)}"
    asyncio.run(create_database(server_url, name))
    url = with_database(server_url, name)
    try:
        if migrate:
            for subgraph in subgraph_registry.available():
                migrations.upgrade(subgraph, url)
        yield url
    finally:
        asyncio.run(drop_database(server_url, name))


def clean_environment() -> dict[str, str]:
    """This process's environment without any Coursegraph setting a developer exported:
    the stack under test must see only what the fixture gives it (`.env` is avoided by
    running the children in their own directory)."""
    known = all_variable_names()
    return {key: value for key, value in os.environ.items() if key.upper() not in known}


@dataclass
class Service:
    """One child process: started, probed on /health, stopped and started again by PID."""

    name: str
    argv: list[str]
    port: int
    env: Mapping[str, str]
    workdir: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, f"{self.name} runs"
        with self.log_path.open("ab") as log:
            # Own session: a Ctrl-C in the pytest terminal reaches pytest, whose fixture
            # teardown stops the children in order, instead of killing them mid-request.
            self.process = subprocess.Popen(
                self.argv,
                env=dict(self.env),
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_healthy(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while not self.healthy():
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.process.returncode})\n{self.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} not healthy after {timeout:.0f}s\n{self.tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM (uvicorn shuts down gracefully), SIGKILL if it does not exit in time."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT_SECONDS)

    def restart(self) -> None:
        self.stop()
        self.start()
        self.wait_healthy()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`coursegraph <args>` with this process's environment, as an operator runs it."""
        return subprocess.run(
            [*PYTHON, *args],
            env=dict(self.env),
            cwd=self.workdir,
            capture_output=True,
            text=True,
            check=False,
        )

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Stack:
    services: dict[str, Service]
    workdir: Path

    @property
    def router(self) -> Service:
        return self.services["router"]

    @property
    def graphql_url(self) -> str:
        return f"{self.router.url}/graphql"

    def start(self) -> None:
        # All at once: the processes do not need each other to start (JWKS and peers are
        # fetched lazily), and starting them in parallel halves the wait on 2 cores.
        try:
            for service in self.services.values():
                service.start()
            for service in self.services.values():
                service.wait_healthy()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        # The routers first, so no request reaches a subgraph that is going away.
        others = [name for name in self.services if name not in SUBGRAPHS]
        for name in (*others, *reversed(SUBGRAPHS)):
            if name in self.services:
                self.services[name].stop()

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def compose_supergraph(workdir: Path, urls: Mapping[str, str], code: Path = REPO_ROOT) -> Path:
    """A supergraph for this stack: the subgraph SDL files committed in `code` (a checkout
    of this repository; `urls` names its subgraphs), composed by the Python composer with
    routing URLs that name the test ports."""
    config = {
        "federation_version": "=2.14.4",
        "subgraphs": {
            name: {
                "routing_url": f"{url}/graphql",
                "schema": {"file": str(code / "subgraphs" / name / "schema.graphql")},
            }
            for name, url in urls.items()
            if name != "router"
        },
    }
    config_path = workdir / "supergraph.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = compose_config(config_path)
    if result.supergraph_sdl is None:
        raise RuntimeError("composition failed:\n" + "\n".join(map(str, result.errors)))
    supergraph = workdir / "supergraph.graphql"
    supergraph.write_text(result.supergraph_sdl, encoding="utf-8")
    return supergraph


def stack_environment(
    workdir: Path, database_url: str, urls: Mapping[str, str], extra_env: Mapping[str, str]
) -> dict[str, str]:
    """What every process of a stack is given: the database, where each service is
    reached (`urls`: the subgraphs' addresses), short polls for bounded waits."""
    return {
        **clean_environment(),
        "PYTHONUNBUFFERED": "1",
        "COURSEGRAPH_ENV": "test",
        "COURSEGRAPH_DATA_DIR": str(workdir / "data"),
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": database_url,
        # Five processes share one PostgreSQL with the test process (and, in CI, the other
        # xdist worker's tests): keep pools small, and close a burst's extra connections
        # soon after it.
        "DATABASE_POOL_SIZE": "4",
        "DATABASE_POOL_IDLE_SECONDS": "1",
        **{f"{name.upper()}_URL": url for name, url in urls.items() if name in SUBGRAPHS},
        "JWKS_URL": f"{urls['users']}/.well-known/jwks.json",
        "FILES_PUBLIC_URL": urls["files"],
        "PAYMENTS_PUBLIC_URL": urls["payments"],
        "SERVICE_TIMEOUT_SECONDS": "5",
        # The worker and relays poll; short intervals keep bounded waits short.
        "FILES_PROCESSING_POLL_SECONDS": "0.2",
        # Every test client signs up from 127.0.0.1, sooner or later more than the
        # registration budget per window (tests/users/test_throttle.py tests that budget).
        "REGISTER_MAX_PER_ADDRESS": "100000",
        **extra_env,
    }


def subgraph_argv(name: str, port: int, workers: int = 1) -> list[str]:
    return [*PYTHON, "serve", name, "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers)]  # fmt: skip


def router_argv(supergraph: Path, router_config: Path, port: int, workers: int = 1) -> list[str]:
    return [
        *PYTHON,
        "router",
        "--supergraph",
        str(supergraph),
        "--config",
        str(router_config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--workers",
        str(workers),
    ]


def build_stack(
    workdir: Path,
    database_url: str,
    extra_env: Mapping[str, str],
    *,
    workers: int = 1,
    code: Path | None = None,
) -> Stack:
    """Every process's command line and environment; nothing is started yet. With
    `workers` > 1 every process runs that many (the subgraphs then need REDIS_URL in
    `extra_env`). `code`: another checkout of this repository whose services run instead
    (on PYTHONPATH), with the subgraphs it has (bench/stack.py's `--code`)."""
    subgraphs: tuple[str, ...] = SUBGRAPHS
    if code is not None:
        subgraphs = tuple(
            name for name in SUBGRAPHS if (code / "subgraphs" / name / "schema.graphql").exists()
        )
        extra_env = {**extra_env, "PYTHONPATH": str(code)}
    names = [*subgraphs, "router"]
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    env = stack_environment(workdir, database_url, urls, extra_env)
    supergraph = compose_supergraph(workdir, urls, code or REPO_ROOT)
    router_config = workdir / "router.yaml"
    # A stopped subgraph refuses connections at once; the timeout only bounds a hung one.
    router_config.write_text(yaml.safe_dump({"traffic": {"timeout_seconds": 10}}))
    services = {
        name: Service(name, subgraph_argv(name, ports[name], workers), ports[name], env, workdir)
        for name in subgraphs
    }
    services["router"] = Service(
        "router",
        router_argv(supergraph, router_config, ports["router"], workers),
        ports["router"],
        env,
        workdir,
    )
    return Stack(services, workdir)
