"""Several instances of every service on one machine, behind HAProxy, as a cluster runs
them behind its Services: two routers and two of each subgraph (separate `coursegraph`
processes on free ports), one HAProxy frontend per service in front of its instances,
and every address the processes are given (USERS_URL …, the supergraph's routing URLs,
the public payments and files URLs) naming a frontend, never an instance.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from coursegraph.settings import SUBGRAPHS
from tests.e2e.stack import (
    START_TIMEOUT_SECONDS,
    STOP_TIMEOUT_SECONDS,
    Service,
    compose_supergraph,
    free_ports,
    router_argv,
    stack_environment,
    subgraph_argv,
)
from tests.services import unavailable

NAMES = ("router", *SUBGRAPHS)

# A killed instance leaves rotation at the first connection it refuses (observe layer4),
# a restarted one joins after two good health checks. A slow /health is not a dead one:
# with a 500 ms check timeout and one failure enough, a busy machine marked the live
# instance down too while the other was killed, and every request got a 503. Only a
# connection that could not be made is retried on the other instance (HAProxy's default
# `retry-on conn-failure`): a request that reached an instance is never sent twice, as a
# non-idempotent POST must not be.
HAPROXY_CONFIG = """\
global
    maxconn 4096

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout check 5s
    retries 3
    option redispatch 1
    default-server inter 1s fall 3 rise 2 observe layer4 error-limit 1 on-error mark-down
"""


@dataclass
class Balancer:
    """One HAProxy process: a frontend per service, round robin over its instances."""

    config: Path
    ports: Mapping[str, int]
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def start(self) -> None:
        binary = shutil.which("haproxy")
        if binary is None:
            unavailable("haproxy is not on PATH (Debian: apt-get install haproxy)")
        check = subprocess.run(
            [binary, "-c", "-f", str(self.config)], capture_output=True, text=True
        )
        if check.returncode != 0:
            raise RuntimeError(
                f"haproxy -c rejects {self.config} ({check.returncode})\n"
                f"{check.stdout}{check.stderr}"
            )
        with self.log_path.open("ab") as log:
            # -db: in the foreground, so the PID is HAProxy's own and stop() ends it.
            self.process = subprocess.Popen(
                [binary, "-db", "-f", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        for port in self.ports.values():
            while not _accepts(port):
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"haproxy exited ({self.process.returncode}); {self.details()}"
                    )
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"haproxy does not listen on 127.0.0.1:{port} after "
                        f"{START_TIMEOUT_SECONDS:.0f}s; {self.details()}"
                    )
                time.sleep(0.05)

    @property
    def log_path(self) -> Path:
        return self.config.with_suffix(".log")

    def details(self) -> str:
        """The config's path and HAProxy's own output (stdout and stderr, one log), so a
        failed start in CI says why."""
        try:
            output = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            output = ""
        tail = "\n".join(output.splitlines()[-40:])
        return f"config {self.config}, output ({self.log_path}):\n{tail}"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def haproxy_config(fronts: Mapping[str, int], instances: Mapping[str, list[Service]]) -> str:
    sections = [HAPROXY_CONFIG]
    for name, port in fronts.items():
        servers = "\n".join(
            f"    server {s.name} 127.0.0.1:{s.port} check" for s in instances[name]
        )
        sections.append(
            f"frontend {name}\n    bind 127.0.0.1:{port}\n    default_backend {name}\n\n"
            f"backend {name}\n    balance roundrobin\n    option httpchk\n"
            f"    http-check send meth GET uri /health\n{servers}\n"
        )
    return "\n".join(sections)


@dataclass
class ScaledStack:
    instances: dict[str, list[Service]]
    balancer: Balancer

    @property
    def graphql_url(self) -> str:
        return f"{self.balancer.url('router')}/graphql"

    def all(self) -> list[Service]:
        return [service for group in self.instances.values() for service in group]

    def start(self) -> None:
        try:
            for service in self.all():
                service.start()
            for service in self.all():
                service.wait_healthy()
            self.balancer.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self.balancer.stop()
        for name in ("router", *reversed(SUBGRAPHS)):
            for service in self.instances[name]:
                service.stop()


def build_scaled_stack(
    workdir: Path, database_url: str, extra_env: Mapping[str, str], copies: int = 2
) -> ScaledStack:
    """`copies` instances of each service and the HAProxy config in front of them;
    nothing is started yet."""
    ports = iter(free_ports(len(NAMES) * (copies + 1)))
    fronts = {name: next(ports) for name in NAMES}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in fronts.items()}
    env = stack_environment(workdir, database_url, urls, extra_env)
    supergraph = compose_supergraph(workdir, urls)
    router_config = workdir / "router.yaml"
    # As deploy/base/router-config.yaml: stores every router instance shares.
    router_config.write_text(
        yaml.safe_dump(
            {"traffic": {"timeout_seconds": 10}, "persisted_queries": {"store": "redis"}}
        )
    )
    instances: dict[str, list[Service]] = {}
    for name in NAMES:
        group = []
        for number in range(1, copies + 1):
            port = next(ports)
            argv = (
                router_argv(supergraph, router_config, port)
                if name == "router"
                else subgraph_argv(name, port)
            )
            group.append(Service(f"{name}-{number}", argv, port, env, workdir))
        instances[name] = group
    config = workdir / "haproxy.cfg"
    config.write_text(haproxy_config(fronts, instances))
    return ScaledStack(instances, Balancer(config, fronts))
