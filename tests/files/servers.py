"""Servers for files tests: a fake courses subgraph, a files server handle, and an
S3-compatible server (moto) with the settings that point files at it.

Courses is another team's service; the stand-in verifies the HMAC signature the real one
would verify and records what files told it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import orjson
from moto.server import ThreadedMotoServer
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from coursegraph.service_auth import (
    MemoryNonceStore,
    ServiceAuthError,
    ServiceVerifier,
)
from coursegraph.settings import Settings
from coursegraph.testing import ServerThread
from subgraphs.files.settings import FilesSettings, S3Settings
from tests.helpers import GraphQLResult, gql, signer_for


@dataclass
class FakeCourses:
    """Records `recordVideoStatus` calls; `down` makes it answer 503, and `claimed=False`
    answers false (no lecture has that video)."""

    settings: Settings
    calls: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    down: bool = False
    claimed: bool = True

    def app(self) -> Starlette:
        verifier = ServiceVerifier(
            {"files": self.settings.service_key("files")}, MemoryNonceStore()
        )

        async def graphql(request: Request) -> Response:
            if self.down:
                return Response(status_code=503)
            body = await request.body()
            try:
                await verifier.verify("POST", request.url.path, request.headers, body)
            except ServiceAuthError as error:
                self.refused.append(str(error))
                return JSONResponse(
                    {"errors": [{"message": str(error), "extensions": {"code": "UNAUTHENTICATED"}}]}
                )
            variables = orjson.loads(body)["variables"]
            self.calls.append(variables)
            return JSONResponse({"data": {"recordVideoStatus": self.claimed}})

        return Starlette(routes=[Route("/graphql", graphql, methods=["POST"])])

    async def wait_for_calls(self, count: int) -> list[dict[str, Any]]:
        deadline = time.monotonic() + 15
        while len(self.calls) < count:
            assert time.monotonic() < deadline, f"courses got {self.calls}"
            await asyncio.sleep(0.05)
        return self.calls


class DeferredApp:
    """Lets a server bind its port before the app (whose settings name that port) exists."""

    app: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


@dataclass
class FilesServer:
    server: ServerThread
    settings: Settings
    section: FilesSettings

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def graphql(self) -> str:
        return f"{self.server.url}/graphql"

    async def call(
        self, query: str, variables: dict[str, Any] | None = None, *, service: str = "courses"
    ) -> GraphQLResult:
        signer = signer_for(service, self.settings)
        return await gql(self.graphql, query, variables, signer=signer)


# Starts a files server; keyword arguments override its settings section (FilesSettings),
# `kernel={...}` its kernel settings.
StartFiles = Callable[..., FilesServer]


# ------------------------------------------------------------------ S3 (moto, server mode)
S3_BUCKET = "coursegraph-test-files"


def s3_client(url: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@contextmanager
def moto_s3(bucket: str = S3_BUCKET) -> Iterator[str]:
    """An S3-compatible HTTP server on 127.0.0.1 holding an empty `bucket`; yields its URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        client = s3_client(url)
        client.create_bucket(Bucket=bucket)
        client.close()
        yield url
    finally:
        server.stop()


def s3_settings(url: str, bucket: str = S3_BUCKET) -> dict[str, Any]:
    """Files settings (section fields) that store objects in `bucket` at the S3 endpoint
    `url`."""
    s3 = S3Settings(
        bucket=bucket,
        endpoint_url=url,
        access_key_id=SecretStr("test"),
        secret_access_key=SecretStr("test"),
    )
    return {"storage": "s3", "s3": s3}
