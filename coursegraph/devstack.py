"""`coursegraph dev`: the whole stack on this machine, stopped cleanly by Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

import httpx

from coursegraph import migrations, subgraph_registry
from coursegraph.database import ensure_database
from coursegraph.settings import Settings


@dataclass
class DevStack:
    settings: Settings
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def run(self) -> int:
        # Ctrl-C and SIGTERM both stop the stack, even where a parent ignored SIGINT.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _raise_interrupt)
        settings, embedded = ensure_database(self.settings)
        names = subgraph_registry.available()
        try:
            for name in names:
                migrations.upgrade(name, settings.database_url_for(name))
            env = {**os.environ, "DATABASE_URL": settings.database_url_for(names[0])}
            for name in names:
                # Own session: Ctrl-C reaches only this supervisor, which then stops
                # the children in order instead of racing their exits.
                self.processes[name] = subprocess.Popen(
                    [sys.executable, "-m", "coursegraph.cli", "serve", name],
                    env=env,
                    start_new_session=True,
                )
            self._wait_healthy(names)
            self._print_urls(names)
            return self._supervise()
        except KeyboardInterrupt:
            return 0
        finally:
            self._stop_all()
            if embedded is not None:
                embedded.stop()
            print("Coursegraph stopped.", flush=True)

    def _wait_healthy(self, names: list[str], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        pending = set(names)
        while pending and time.monotonic() < deadline:
            for name in sorted(pending):
                if self.processes[name].poll() is not None:
                    raise SystemExit(f"{name} exited during start-up")
                try:
                    url = f"{self.settings.service_url(name)}/health"
                    if httpx.get(url, timeout=1.0).status_code == 200:
                        pending.discard(name)
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        if pending:
            raise SystemExit(f"not healthy after {timeout:.0f}s: {', '.join(sorted(pending))}")

    def _print_urls(self, names: list[str]) -> None:
        lines = ["", "Coursegraph is running (Ctrl-C stops everything):"]
        for name in names:
            lines.append(f"  {name:<9} {self.settings.service_url(name)}/graphql")
        if "users" in names:
            lines.append(f"  jwks      {self.settings.service_url('users')}/.well-known/jwks.json")
        print("\n".join(lines) + "\n", flush=True)

    def _supervise(self) -> int:
        while True:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    print(f"{name} exited with {process.returncode}; stopping.", flush=True)
                    return 1
            time.sleep(0.5)

    def _stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
