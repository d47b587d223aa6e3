"""Serving an ASGI app with uvicorn, in one process or several worker processes.

With one worker the app built by the command is served as it is. With several, uvicorn
binds the socket once and starts each worker in a fresh process that builds its own app
(and runs its own lifespan) by calling `factory`, an import string; the command's
arguments reach it through the environment, which the workers inherit.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import uvicorn

FACTORY_ARGS_ENV = "COURSEGRAPH_FACTORY_ARGS"
# uvicorn kills a worker that does not answer its supervisor's ping within this time, and
# a new worker answers only once it has imported everything: its default of 5 s killed
# every worker, again and again, on a busy 2-core machine.
WORKER_PING_TIMEOUT_SECONDS = 60
# uvicorn's httptools protocol, with the plain POST /graphql of an app that offers it
# answered without ASGI (coursegraph/wire.py): the router and every subgraph.
HTTP_PROTOCOL = "coursegraph.wire:DirectProtocol"


def run(
    app: Any,
    factory: str,
    factory_args: Mapping[str, Any],
    *,
    workers: int,
    host: str,
    port: int,
    log_level: str | None = None,
) -> None:
    target: Any = app
    if workers > 1:
        os.environ[FACTORY_ARGS_ENV] = json.dumps(dict(factory_args))
        target = factory
    uvicorn.run(
        target,
        factory=workers > 1,
        workers=workers,
        host=host,
        port=port,
        log_level=log_level,
        http=HTTP_PROTOCOL,
        log_config=None,
        access_log=False,
        # uvicorn would believe X-Forwarded-For from 127.0.0.1; only the signed router may
        # name the client to a subgraph (coursegraph/app.py), and the router decides by
        # headers.trusted_proxies (router/client_address.py).
        proxy_headers=False,
        lifespan="on",
        timeout_worker_healthcheck=WORKER_PING_TIMEOUT_SECONDS,
        # permessage-deflate keeps zlib state per WebSocket: ~40 KiB of the router's memory
        # per idle subscription (bench/subscriptions.py, docs/benchmarks.md) for small JSON
        # messages. Hive Gateway does not negotiate it either (its `ws` server's default).
        ws_per_message_deflate=False,
    )


def factory_args() -> dict[str, Any]:
    """The arguments `run` handed to this worker's factory."""
    args: dict[str, Any] = json.loads(os.environ[FACTORY_ARGS_ENV])
    return args
