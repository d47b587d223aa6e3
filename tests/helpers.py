"""Small helpers for speaking GraphQL to a real server in tests."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from coursegraph.http import signed_path
from coursegraph.service_auth import ServiceSigner
from coursegraph.settings import Settings

# The suite's SERVICE_SECRET_KEY (tests/conftest.py): every service key derives from it.
TEST_SERVICE_SECRET = "test-service-secret"


def signer_for(service: str, settings: Settings | None = None) -> ServiceSigner:
    """How `service` signs its calls under `settings` (default: the suite's secret)."""
    settings = settings or Settings(_env_file=None, service_secret_key=TEST_SERVICE_SECRET)
    return ServiceSigner(service, settings.service_key(service))


# Subgraphs answer only signed callers; tests speak to them as the router does.
AS_ROUTER = signer_for("router")

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class GraphQLResult:
    status: int
    data: dict[str, Any] | None
    errors: list[dict[str, Any]]

    @property
    def codes(self) -> list[str]:
        return [str((e.get("extensions") or {}).get("code")) for e in self.errors]

    @property
    def code(self) -> str:
        assert self.errors, f"expected an error, got data {self.data}"
        return self.codes[0]

    def ok(self) -> dict[str, Any]:
        assert not self.errors, self.errors
        assert self.data is not None
        return self.data


async def gql(
    url: str,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    signer: ServiceSigner | None = AS_ROUTER,
) -> GraphQLResult:
    """POST a GraphQL operation, signed as the router unless another `signer` (or None,
    unsigned) is given."""
    body = orjson.dumps({"query": query, "variables": variables or {}})
    all_headers = {"content-type": "application/json", **(headers or {})}
    if token:
        all_headers["authorization"] = f"Bearer {token}"
    if signer:
        all_headers.update(signer.headers("POST", signed_path(httpx.URL(url)), body))
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(url, content=body, headers=all_headers)
    payload = (
        response.json()
        if response.headers.get("content-type", "").startswith("application/json")
        else {}
    )
    return GraphQLResult(response.status_code, payload.get("data"), payload.get("errors") or [])


def cli_environment(settings: Settings, env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a `coursegraph` process on the test database."""
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url_for("users"),
        "COURSEGRAPH_DATA_DIR": str(settings.data_dir),
        "SERVICE_SECRET_KEY": "test-service-secret",
        "LOG_LEVEL": "WARNING",
        **(env or {}),
    }


def run_cli(
    settings: Settings, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`coursegraph <args>` as a real process, on the test database."""
    return subprocess.run(
        [sys.executable, "-m", "launcher.cli", *args],
        env=cli_environment(settings, env),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        check=False,
    )


class GraphQLSocket:
    """A graphql-transport-ws connection (ws-contract), already acknowledged."""

    # How long any one message is waited for.
    wait_seconds = 15.0

    def __init__(self, websocket: ClientConnection) -> None:
        self.websocket = websocket

    async def subscribe(
        self, operation_id: str, query: str, variables: dict[str, Any] | None = None
    ) -> None:
        payload = {"query": query, "variables": variables or {}}
        await self.send({"id": operation_id, "type": "subscribe", "payload": payload})

    async def complete(self, operation_id: str) -> None:
        await self.send({"id": operation_id, "type": "complete"})

    async def send(self, message: dict[str, Any]) -> None:
        await self.websocket.send(orjson.dumps(message).decode())

    async def receive(self) -> dict[str, Any]:
        """The next protocol message other than ping/pong."""
        while True:
            async with asyncio.timeout(self.wait_seconds):
                raw = await self.websocket.recv()
            message: dict[str, Any] = orjson.loads(raw)
            if message.get("type") == "ping":
                await self.send({"type": "pong"})
                continue
            if message.get("type") != "pong":
                return message

    async def next_data(self, operation_id: str) -> dict[str, Any]:
        """The data of the operation's next `next` message (fails on anything else)."""
        message = await self.receive()
        assert message.get("id") == operation_id, message
        assert message["type"] == "next", message
        assert not message["payload"].get("errors"), message
        data: dict[str, Any] = message["payload"]["data"]
        return data

    async def error_codes(self, operation_id: str) -> list[str]:
        """The codes of the operation's `error` message (fails on anything else)."""
        message = await self.receive()
        assert message.get("id") == operation_id, message
        assert message["type"] == "error", message
        return [str((e.get("extensions") or {}).get("code")) for e in message["payload"]]


def upgrade_headers(
    url: str, *, token: str | None = None, signer: ServiceSigner | None = AS_ROUTER
) -> dict[str, str]:
    """The upgrade request's headers: signed like a GET with an empty body."""
    headers: dict[str, str] = {}
    if token:
        headers["authorization"] = f"Bearer {token}"
    if signer:
        headers.update(signer.headers("GET", signed_path(httpx.URL(url)), b""))
    return headers


@asynccontextmanager
async def graphql_socket(
    url: str,
    *,
    token: str | None = None,
    signer: ServiceSigner | None = AS_ROUTER,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[GraphQLSocket]:
    """A subgraph's subscription socket at `url` (http://…/graphql), connected as the
    router connects: signed upgrade, `connection_init` with `{}`, acknowledged."""
    all_headers = {**upgrade_headers(url, token=token, signer=signer), **(headers or {})}
    async with connect(
        "ws" + url.removeprefix("http"),
        subprotocols=[Subprotocol("graphql-transport-ws")],
        additional_headers=all_headers,
        open_timeout=15,
    ) as websocket:
        socket = GraphQLSocket(websocket)
        await socket.send({"type": "connection_init", "payload": {}})
        assert (await socket.receive())["type"] == "connection_ack"
        yield socket
