"""Headless Chromium for the browser checks: found on PATH, or the tests that need it skip
with the reason (Debian: `apt-get install chromium`). A page is read through what it
prints (--dump-dom), what it reports back, or the DevTools protocol (websockets)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import signal
import subprocess
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.e2e.client import eventually
from tests.services import unavailable

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Bounds a browser's start on a busy machine; not a timing assertion.
START_SECONDS = 30.0


def chromium() -> str:
    """The browser's path, or skip the calling test saying why."""
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    unavailable(f"no headless Chromium on PATH (looked for {', '.join(CANDIDATES)})")


def _command(profile: Path, *args: str) -> list[str]:
    # A throwaway profile, and nothing that reaches the internet on its own.
    return [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]


def render(profile: Path, url: str, *args: str, timeout: float = 120.0) -> str:
    """Load `url` until its scripts settle (virtual time), run `args` (--dump-dom,
    --screenshot=…), and return what the browser printed."""
    done = subprocess.run(
        _command(profile, "--virtual-time-budget=15000", *args, url),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@contextmanager
def open_page(profile: Path, url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`url` open in a headless browser until the block ends; stopped by its PID."""
    with log.open("wb") as out:
        # Its own process group: the browser's helper processes stop with it.
        process = subprocess.Popen(
            _command(profile, url), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


class ProtocolError(Exception):
    """The browser could not evaluate an expression (not an exception in the page)."""


class DevTools:
    """One page of a headless browser, driven over the Chrome DevTools protocol."""

    def __init__(self, connection: ClientConnection) -> None:
        self._connection = connection
        self._ids = itertools.count(1)

    async def evaluate(self, expression: str) -> Any:
        """The expression's value in the page (promises awaited); page errors raise."""
        call_id = next(self._ids)
        params = {"expression": expression, "awaitPromise": True, "returnByValue": True}
        await self._connection.send(
            json.dumps({"id": call_id, "method": "Runtime.evaluate", "params": params})
        )
        while True:
            message = json.loads(await self._connection.recv())
            if message.get("id") == call_id:
                break
        if "error" in message:
            # A protocol error, not the page's: e.g. the context was destroyed because the
            # page is navigating (reload) while the expression ran.
            raise ProtocolError(f"{expression}: {message['error']}")
        result = message["result"]
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, within: float = 30.0) -> Any:
        """The expression's first truthy value, polled; fails after `within` seconds."""

        async def probe() -> Any:
            try:
                return await self.evaluate(expression)
            except ProtocolError:
                return None  # between two pages: poll again

        return await eventually(probe, bool, within=within)


@asynccontextmanager
async def devtools(profile: Path, url: str) -> AsyncIterator[DevTools]:
    """`url` open in a headless browser with the DevTools protocol on a free port."""
    process = await asyncio.create_subprocess_exec(
        *_command(profile, "--remote-debugging-port=0", url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # The browser writes its port here once it listens.
        active = profile / "DevToolsActivePort"
        port = await eventually(
            lambda: asyncio.to_thread(_read_port, active), bool, within=START_SECONDS
        )
        pages = await eventually(
            lambda: asyncio.to_thread(_pages, port), bool, within=START_SECONDS
        )
        async with connect(pages[0]["webSocketDebuggerUrl"], max_size=None) as connection:
            yield DevTools(connection)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=10)
        except TimeoutError:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()


def _read_port(path: Path) -> str:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return text.split("\n", 1)[0].strip()


def _pages(port: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=5) as answer:
        targets: list[dict[str, Any]] = json.load(answer)
    return [t for t in targets if t.get("type") == "page"]
