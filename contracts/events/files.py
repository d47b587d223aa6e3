"""Events of the files subgraph: processing outcomes of uploaded videos."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from contracts.events import EventPayload


class _VideoOutcome(EventPayload):
    fileId: str
    # What the file belongs to: the lecture's id for purpose `lecture_video`.
    ownerId: str
    purpose: str
    fileName: str | None = None
    # The account that asked for the upload (the teacher to tell); None for files
    # uploaded before it was recorded.
    uploadedBy: str | None = None
    durationSeconds: float | None
    failureReason: str | None
    recordedAt: datetime

    def entities(self) -> tuple[str, ...]:
        owner = (f"Lecture:{self.ownerId}",) if self.purpose == "lecture_video" else ()
        return (f"File:{self.fileId}", *owner)


class VideoReady(_VideoOutcome):
    """Processing finished: the video plays."""

    TOPIC: ClassVar[str] = "video.ready"
    VERSION: ClassVar[int] = 1
    status: Literal["READY"]


class VideoFailed(_VideoOutcome):
    """Processing gave up; `failureReason` says why."""

    TOPIC: ClassVar[str] = "video.failed"
    VERSION: ClassVar[int] = 1
    status: Literal["FAILED"]


EVENTS: tuple[type[EventPayload], ...] = (VideoReady, VideoFailed)
