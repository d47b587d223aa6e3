"""Mux Video through `mux-python`: assets from the stored object, webhooks, signed playback.

The SDK blocks (urllib3), so its calls run in worker threads. Its host comes from settings,
so tests point it at a local stand-in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import jwt
import mux_python
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from mux_python.rest import ApiException

from subgraphs.files.processing import (
    Playback,
    PlaybackRef,
    ProcessingFailed,
    Submitted,
    VideoSource,
)
from subgraphs.files.storage import Storage

# Mux may queue ingestion for a while; the input URL must outlive that queue.
INPUT_URL_TTL = timedelta(hours=6)
# Statuses that say our request itself is wrong: retrying cannot help.
PERMANENT_STATUSES = frozenset({400, 404, 409, 422})


class WebhookRejected(Exception):
    """A webhook that is not provably from Mux, or too old to trust."""


@dataclass(frozen=True)
class MuxEvent:
    type: str  # "video.asset.ready", "video.asset.errored", …
    asset_id: str
    passthrough: str | None
    duration_seconds: float | None
    playback_id: str | None
    error: str | None


def verify_webhook(
    header: str | None,
    body: bytes,
    secret: bytes,
    *,
    tolerance_seconds: int = 300,
    now: float | None = None,
) -> None:
    """Check `Mux-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`."""
    if not header:
        raise WebhookRejected("missing Mux-Signature header")
    timestamp, signatures = "", []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            timestamp = value
        elif name == "v1":
            signatures.append(value)
    if not timestamp.isdigit() or not signatures:
        raise WebhookRejected("malformed Mux-Signature header")
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance_seconds:
        raise WebhookRejected("stale Mux webhook")
    expected = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise WebhookRejected("bad Mux webhook signature")


def parse_event(payload: Mapping[str, Any]) -> MuxEvent | None:
    """The asset event in a webhook body, or None for events files does not track."""
    kind = payload.get("type")
    data = payload.get("data")
    if (
        not isinstance(kind, str)
        or not kind.startswith("video.asset.")
        or not isinstance(data, dict)
    ):
        return None
    asset_id = data.get("id")
    if not isinstance(asset_id, str):
        return None
    playback_ids = data.get("playback_ids") or []
    errors = data.get("errors") or {}
    messages = errors.get("messages") if isinstance(errors, dict) else None
    duration = data.get("duration")
    return MuxEvent(
        type=kind,
        asset_id=asset_id,
        passthrough=data.get("passthrough") if isinstance(data.get("passthrough"), str) else None,
        duration_seconds=float(duration) if isinstance(duration, int | float) else None,
        playback_id=playback_ids[0].get("id") if playback_ids else None,
        error="; ".join(str(m) for m in messages) if messages else None,
    )


def load_signing_key(value: str) -> RSAPrivateKey:
    """A PEM private key, or the base64 of one (how Mux hands signing keys out)."""
    pem = value.encode() if value.lstrip().startswith("-----BEGIN") else base64.b64decode(value)
    key = load_pem_private_key(pem, password=None)
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("MUX_SIGNING_PRIVATE_KEY must be an RSA private key")
    return key


class MuxProcessor:
    name = "mux"

    def __init__(
        self,
        storage: Storage,
        *,
        api_url: str,
        token_id: str,
        token_secret: str,
        signing_key_id: str,
        signing_key: RSAPrivateKey,
        stream_url: str,
        image_url: str,
    ) -> None:
        self._storage = storage
        configuration = mux_python.Configuration(
            host=api_url.rstrip("/"), username=token_id, password=token_secret
        )
        self._client = mux_python.ApiClient(configuration)
        self._assets = mux_python.AssetsApi(self._client)
        self._kid = signing_key_id
        self._key = signing_key
        self._stream_url = stream_url.rstrip("/")
        self._image_url = image_url.rstrip("/")

    async def process(self, source: VideoSource) -> Submitted:
        url = self._storage.download_url(source.storage_key, datetime.now(UTC) + INPUT_URL_TTL)
        request = mux_python.CreateAssetRequest(
            inputs=[mux_python.InputSettings(url=url)],
            playback_policies=[mux_python.PlaybackPolicy.SIGNED],
            # Lets a webhook be matched to the file even if the asset id was never stored.
            passthrough=source.file_id,
        )
        try:
            response = await anyio.to_thread.run_sync(self._assets.create_asset, request)
        except ApiException as error:
            if error.status in PERMANENT_STATUSES:
                raise ProcessingFailed(f"Mux refused the video ({error.status}).") from None
            raise
        asset = response.data
        playback_ids = asset.playback_ids or []
        return Submitted(
            asset_id=asset.id, playback_id=playback_ids[0].id if playback_ids else None
        )

    async def discard(self, asset_id: str) -> None:
        try:
            await anyio.to_thread.run_sync(self._assets.delete_asset, asset_id)
        except ApiException as error:
            if error.status != 404:
                raise

    def playback(self, ref: PlaybackRef, expires_at: datetime) -> Playback | None:
        if ref.mux_playback_id is None:
            # Processed before Mux was configured: play the original from storage.
            return Playback(self._storage.download_url(ref.storage_key, expires_at), None)
        pid = ref.mux_playback_id
        video = self._token(pid, "v", expires_at)
        thumbnail = self._token(pid, "t", expires_at)
        return Playback(
            url=f"{self._stream_url}/{pid}.m3u8?token={video}",
            thumbnail_url=f"{self._image_url}/{pid}/thumbnail.jpg?token={thumbnail}",
        )

    def _token(self, playback_id: str, audience: str, expires_at: datetime) -> str:
        claims = {"sub": playback_id, "aud": audience, "exp": int(expires_at.timestamp())}
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self._kid})

    async def close(self) -> None:
        await anyio.to_thread.run_sync(self._client.close)
