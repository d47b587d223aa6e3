"""The default processor: probes the stored file itself and plays it from storage."""

from __future__ import annotations

from datetime import datetime

import anyio

from subgraphs.files.processing import (
    Playback,
    PlaybackRef,
    Probed,
    ProcessingFailed,
    VideoSource,
)
from subgraphs.files.processing.probe import ProbeError, ProbeResult, probe
from subgraphs.files.storage import Storage


class LocalProcessor:
    name = "local"

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def process(self, source: VideoSource) -> Probed:
        def run() -> ProbeResult:
            with self._storage.open_blocking(source.storage_key) as file:
                return probe(file, source.content_type)

        try:
            result = await anyio.to_thread.run_sync(run)
        except ProbeError as error:
            raise ProcessingFailed(str(error)) from None
        return Probed(duration_seconds=result.duration_seconds)

    async def discard(self, asset_id: str) -> None:
        return None

    def playback(self, ref: PlaybackRef, expires_at: datetime) -> Playback | None:
        # The original file, Range-capable; no thumbnails without a frame decoder.
        return Playback(
            url=self._storage.download_url(ref.storage_key, expires_at), thumbnail_url=None
        )

    async def close(self) -> None:
        return None
