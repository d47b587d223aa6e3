"""A local stand-in of Mux's asset API, for the real `mux-python` SDK that files uses.

By default it only answers (and records) what files asks. Given files' webhook URL it also
ingests each new asset the way Mux does: it downloads the input URL files handed it,
"processes" the video, and reports `video.asset.ready` (or `video.asset.errored`) to the
webhook, signed like Mux signs.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from subgraphs.files.processing.probe import ProbeError, probe
from subgraphs.files.settings import MuxSettings

WEBHOOK_SECRET = "mux-webhook-secret"


def mux_signature(body: bytes, *, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    """`Mux-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`."""
    timestamp = str(int(time.time()) if at is None else at)
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def mux_settings(
    api_url: str, signing_key_pem: bytes, *, signing_key_id: str = "signing-key-1"
) -> dict[str, Any]:
    """Files settings (section fields) that send videos to the stand-in at `api_url`."""
    mux = MuxSettings(
        api_url=api_url,
        token_id=SecretStr("token-id"),
        token_secret=SecretStr("token-secret"),
        webhook_secret=SecretStr(WEBHOOK_SECRET),
        signing_key_id=signing_key_id,
        # Mux hands signing keys out base64-encoded.
        signing_private_key=SecretStr(base64.b64encode(signing_key_pem).decode()),
    )
    return {"video_processor": "mux", "mux": mux}


def ready_event(
    asset_id: str, playback_id: str, duration: float, passthrough: str | None = None
) -> dict[str, Any]:
    return {
        "type": "video.asset.ready",
        "id": secrets.token_hex(8),
        "object": {"type": "asset", "id": asset_id},
        "data": {
            "id": asset_id,
            "status": "ready",
            "duration": duration,
            "playback_ids": [{"id": playback_id, "policy": "signed"}],
            "passthrough": passthrough,
        },
    }


def errored_event(asset_id: str, message: str, passthrough: str | None = None) -> dict[str, Any]:
    return {
        "type": "video.asset.errored",
        "id": secrets.token_hex(8),
        "object": {"type": "asset", "id": asset_id},
        "data": {
            "id": asset_id,
            "status": "errored",
            "errors": {"type": "invalid_input", "messages": [message]},
            "passthrough": passthrough,
        },
    }


@dataclass(frozen=True)
class Ingested:
    """What the stand-in downloaded from an asset's input URL."""

    asset_id: str
    input_url: str
    status_code: int
    content_type: str | None
    content: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass
class FakeMux:
    """Mux's asset API as far as files uses it; records what it was asked.

    With `webhook_url` set, every created asset is ingested after the response is sent:
    the input URL is fetched, its duration read from the bytes, and the outcome delivered
    to the webhook signed with `webhook_secret`.
    """

    created: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    refuse_with: int | None = None
    webhook_url: str | None = None
    webhook_secret: str = WEBHOOK_SECRET
    ingested: list[Ingested] = field(default_factory=list)
    # (event type, the webhook's HTTP status), in delivery order.
    deliveries: list[tuple[str, int]] = field(default_factory=list)
    # Ingestion that broke in the stand-in itself (a test reports these when it times out).
    failures: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.created.clear()
        self.authorizations.clear()
        self.deleted.clear()
        self.refuse_with = None
        self.webhook_url = None
        self.webhook_secret = WEBHOOK_SECRET
        self.ingested.clear()
        self.deliveries.clear()
        self.failures.clear()

    async def wait_for_deliveries(self, count: int) -> list[tuple[str, int]]:
        """The webhook deliveries, once `count` have been answered (files may tell courses
        before the stand-in has read files' answer)."""
        deadline = time.monotonic() + 15
        while len(self.deliveries) < count and not self.failures:
            assert time.monotonic() < deadline, f"delivered {self.deliveries}"
            await asyncio.sleep(0.05)
        return self.deliveries

    def app(self) -> Starlette:
        async def create(request: Request) -> Response:
            self.authorizations.append(request.headers.get("authorization", ""))
            if self.refuse_with is not None:
                error = {"error": {"type": "invalid_parameters", "messages": ["bad input"]}}
                return JSONResponse(error, status_code=self.refuse_with)
            body = await request.json()
            self.created.append(body)
            asset_id, playback_id = f"asset{len(self.created)}", f"play{len(self.created)}"
            ingest = None
            if self.webhook_url is not None:
                ingest = BackgroundTask(self._ingest, self.webhook_url, asset_id, playback_id, body)
            return JSONResponse(
                {
                    "data": {
                        "id": asset_id,
                        "status": "preparing",
                        "playback_ids": [{"id": playback_id, "policy": "signed"}],
                        "passthrough": body.get("passthrough"),
                        "created_at": str(int(time.time())),
                    }
                },
                status_code=201,
                background=ingest,
            )

        async def delete(request: Request) -> Response:
            self.deleted.append(request.path_params["asset_id"])
            return Response(status_code=204)

        return Starlette(
            routes=[
                Route("/video/v1/assets", create, methods=["POST"]),
                Route("/video/v1/assets/{asset_id}", delete, methods=["DELETE"]),
            ]
        )

    async def _ingest(
        self, webhook_url: str, asset_id: str, playback_id: str, request: dict[str, Any]
    ) -> None:
        try:
            input_url = request["inputs"][0]["url"]
            passthrough = request.get("passthrough")
            async with httpx.AsyncClient(timeout=30) as client:
                fetched = await client.get(input_url)
                content_type = fetched.headers.get("content-type")
                self.ingested.append(
                    Ingested(
                        asset_id, input_url, fetched.status_code, content_type, fetched.content
                    )
                )
                try:
                    if fetched.status_code != 200:
                        raise ProbeError(f"The input URL answered {fetched.status_code}.")
                    found = probe(io.BytesIO(fetched.content), content_type or "")
                    event = ready_event(asset_id, playback_id, found.duration_seconds, passthrough)
                except ProbeError as error:
                    event = errored_event(asset_id, str(error), passthrough)
                body = json.dumps(event).encode()
                headers = {
                    "content-type": "application/json",
                    "mux-signature": mux_signature(body, secret=self.webhook_secret),
                }
                delivered = await client.post(webhook_url, content=body, headers=headers)
            self.deliveries.append((event["type"], delivered.status_code))
        except Exception as error:  # the test reports it; Mux would retry, we do not
            self.failures.append(repr(error))
