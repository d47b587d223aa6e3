"""The HAProxy fixture's failures say why: a start that fails names the config and
carries HAProxy's own output, so a CI log is enough to diagnose it."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from tests.scaleout.stack import Balancer, haproxy_config
from tests.services import unavailable


def test_haproxy_exiting_at_start_reports_its_output_and_config(tmp_path: Path) -> None:
    if shutil.which("haproxy") is None:
        unavailable("haproxy is not on PATH (Debian: apt-get install haproxy)")
    with socket.socket() as taken:
        # The frontend's port is bound here (not listening: nothing accepts on it), so
        # HAProxy cannot bind it and exits; the config itself is valid (`haproxy -c`
        # does not bind).
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        config = tmp_path / "haproxy.cfg"
        config.write_text(haproxy_config({"router": port}, {"router": []}))
        balancer = Balancer(config, {"router": port})
        try:
            with pytest.raises(RuntimeError) as failure:
                balancer.start()
        finally:
            balancer.stop()
    message = str(failure.value)
    assert message.startswith("haproxy exited (")
    assert str(config) in message
    assert "cannot bind socket" in message
