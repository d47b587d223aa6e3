"""Video processing: turns an uploaded object into something playable, and signs playback.

A processor either finishes at once (`Probed`: the local prober) or hands the video to a
provider (`Submitted`: Mux), whose webhook later says READY or FAILED.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class VideoSource:
    file_id: str
    storage_key: str
    content_type: str


@dataclass(frozen=True)
class Probed:
    duration_seconds: float


@dataclass(frozen=True)
class Submitted:
    asset_id: str
    playback_id: str | None


@dataclass(frozen=True)
class PlaybackRef:
    storage_key: str
    mux_playback_id: str | None


@dataclass(frozen=True)
class Playback:
    url: str
    thumbnail_url: str | None


class ProcessingFailed(Exception):
    """The video cannot be used (not a transient failure); the message says why."""


class VideoProcessor(Protocol):
    name: str

    async def process(self, source: VideoSource) -> Probed | Submitted:
        """Raises ProcessingFailed for a bad video; any other error is retried."""
        ...

    async def discard(self, asset_id: str) -> None:
        """Forget the provider's copy of a deleted file."""
        ...

    def playback(self, ref: PlaybackRef, expires_at: datetime) -> Playback | None: ...

    async def close(self) -> None: ...
