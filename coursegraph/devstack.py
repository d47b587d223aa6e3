"""`coursegraph dev`: the whole stack on this machine, stopped cleanly by Ctrl-C.

Order: database (embedded unless DATABASE_URL), migrations, the subgraphs (demo data is
loaded while they start), then the router once every subgraph answers /health.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from coursegraph import migrations, subgraph_registry
from coursegraph.database import ensure_database
from coursegraph.seeding import DemoData, seed_demo_data
from coursegraph.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
SUPERGRAPH = REPO_ROOT / "supergraph.graphql"

FIRST_QUERY = """\
  {
    courses(first: 5) {
      totalCount
      edges { node { title isFree price { amount currency } teacher { name } } }
    }
  }"""


@dataclass
class DevStack:
    settings: Settings
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def run(self) -> int:
        # Ctrl-C and SIGTERM both stop the stack, even where a parent ignored SIGINT.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _raise_interrupt)
        if not SUPERGRAPH.exists():
            raise SystemExit(f"{SUPERGRAPH} is missing; `coursegraph compose` writes it")
        settings, embedded = ensure_database(self.settings)
        names = subgraph_registry.available()
        try:
            for name in names:
                migrations.upgrade(name, settings.database_url_for(name))
            env = {**os.environ, "DATABASE_URL": settings.database_url_for(names[0])}
            for name in names:
                self._start(name, ["serve", name], env)
            # Seeding works on the database through the service layers, not over HTTP:
            # it overlaps the subgraphs' start-up instead of adding to it.
            seeded = self._seed(settings)
            self._wait_healthy(names)
            self._start("router", self._router_args(names), env)
            self._wait_healthy(["router"])
            self._print_welcome(names, seeded)
            return self._supervise()
        except KeyboardInterrupt:
            return 0
        finally:
            self._stop_all()
            if embedded is not None:
                embedded.stop()
            print("Coursegraph stopped.", flush=True)

    def _seed(self, settings: Settings) -> DemoData | None:
        if settings.is_production:
            return None
        # Idempotent: a second `coursegraph dev` finds everything and creates nothing.
        return asyncio.run(seed_demo_data(settings))

    def _start(self, name: str, args: list[str], env: dict[str, str]) -> None:
        # Own session: Ctrl-C reaches only this supervisor, which then stops the
        # children in order instead of racing their exits.
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "coursegraph.cli", *args],
            env=env,
            start_new_session=True,
        )

    def _router_args(self, names: list[str]) -> list[str]:
        # The committed supergraph names the default ports; a router.yaml under the data
        # folder points the router at where the subgraphs really listen (ports and URLs
        # may be overridden by settings).
        config = {
            "subgraphs": {
                name: {"url": f"{self.settings.service_url(name)}/graphql"} for name in names
            },
            # CORS_ORIGINS, so a frontend on its own dev server reaches the API.
            "cors": {"origins": list(self.settings.resolved_cors_origins)},
        }
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.settings.data_dir / "router.yaml"
        path.write_text(
            "# Written by `coursegraph dev` at each start; edits are overwritten.\n"
            + yaml.safe_dump(config, sort_keys=True),
            encoding="utf-8",
        )
        return [
            "router",
            "--supergraph",
            str(SUPERGRAPH),
            "--config",
            str(path),
            "--host",
            self.settings.host,
            "--port",
            str(self.settings.router_port),
            "--log-level",
            "warning",
        ]

    def _health_url(self, name: str) -> str:
        if name == "router":
            return f"{self.router_url}/health"
        return f"{self.settings.service_url(name)}/health"

    @property
    def router_url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.router_port}"

    def _wait_healthy(self, names: list[str], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        pending = set(names)
        while pending and time.monotonic() < deadline:
            for name in sorted(pending):
                if self.processes[name].poll() is not None:
                    raise SystemExit(f"{name} exited during start-up")
                try:
                    if httpx.get(self._health_url(name), timeout=1.0).status_code == 200:
                        pending.discard(name)
                except httpx.HTTPError:
                    pass
            if pending:
                time.sleep(0.2)
        if pending:
            raise SystemExit(f"not healthy after {timeout:.0f}s: {', '.join(sorted(pending))}")

    def _print_welcome(self, names: list[str], seeded: DemoData | None) -> None:
        graphql = f"{self.router_url}/graphql"
        lines = [
            "",
            "Coursegraph is running (Ctrl-C stops everything).",
            "",
            f"  Open GraphiQL:  {graphql}",
            f"  Public API:     POST {graphql}",
            "",
            "  Subgraphs (private: they answer only the router and signed services):",
        ]
        for name in names:
            lines.append(f"    {name:<9} {self.settings.service_url(name)}/graphql")
        if "users" in names:
            lines.append(
                f"    jwks      {self.settings.service_url('users')}/.well-known/jwks.json"
            )
        lines += ["", "  A first query to paste into GraphiQL:", "", FIRST_QUERY, ""]
        if seeded is not None:
            lines += [
                f"  Demo data: {seeded.summary}",
                "  Demo accounts (`coursegraph users unlock --email E` clears a sign-in lockout):",
                *(f"    {line}" for line in seeded.account_lines()),
                "",
                "  Sign in as a demo student, then put the accessToken in GraphiQL's Headers tab",
                '  as {"Authorization": "Bearer <accessToken>"} and try { me { name enrollments '
                "{ status course { title } } } }:",
                "",
                f'  mutation {{ login(email: "{seeded.student_email}", '
                f'password: "{seeded.password}") {{ accessToken }} }}',
                "",
            ]
        print("\n".join(lines), flush=True)

    def _supervise(self) -> int:
        while True:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    print(f"{name} exited with {process.returncode}; stopping.", flush=True)
                    return 1
            time.sleep(0.5)

    def _stop_all(self) -> None:
        # The router first (started last), so no request reaches a subgraph going away.
        for process in reversed(self.processes.values()):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(self.processes.values()):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
