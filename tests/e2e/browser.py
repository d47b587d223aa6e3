"""Headless Chromium for the browser checks: found on PATH, or the tests that need it skip
with the reason (Debian: `apt-get install chromium`)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium() -> str:
    """The browser's path, or skip the calling test saying why."""
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(f"no headless Chromium on PATH (looked for {', '.join(CANDIDATES)})")


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
