"""Helpers for tests: real servers on port 0 in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

from coursegraph.serving import HTTP_PROTOCOL


class ServerThread:
    """Runs an ASGI app with uvicorn on 127.0.0.1 and a free port, until `stop()`."""

    def __init__(self, app: Any, port: int = 0, http: str = HTTP_PROTOCOL) -> None:
        """`port` 0 picks a free one; a given port serves again where a stopped server was
        (a restart, as clients see it). `http`: uvicorn's HTTP protocol, by default the one
        `coursegraph serve` and `router` use."""
        self._server = uvicorn.Server(
            # proxy_headers off, as in `coursegraph serve` and `router`: the apps judge
            # X-Forwarded-For themselves.
            uvicorn.Config(
                app,
                http=http,
                log_config=None,
                access_log=False,
                lifespan="on",
                proxy_headers=False,
            )
        )
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", port))
        self.port: int = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def start(self, timeout: float = 20.0) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("server thread died during start-up")
            if time.monotonic() > deadline:
                raise TimeoutError("server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
