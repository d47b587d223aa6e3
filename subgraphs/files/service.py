"""Files' domain logic: upload tickets, confirmation, the processing queue, provider events,
deletion and playback. No GraphQL and no HTTP here; every method owns its transaction.

The processing queue is the `files` table itself: a PROCESSING row without a provider
asset whose `processing_due_at` has passed is work to do. A worker claims rows with
`FOR UPDATE SKIP LOCKED` and a lease, so several processes share the work, and a process
that dies mid-probe leaves a row that is picked up again when its lease ends.
"""

from __future__ import annotations

import math
import re
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events.files import VideoFailed, VideoReady
from coursegraph import outbox as outbox_
from coursegraph.batch import load_by_key
from coursegraph.db import Database
from coursegraph.errors import BadUserInput, NotFound
from coursegraph.ids import parse_uuid
from coursegraph.log import get_logger
from subgraphs.files.models import FileStatus, StoredFile, outbox
from subgraphs.files.processing import (
    Playback,
    PlaybackRef,
    Probed,
    ProcessingFailed,
    Submitted,
    VideoProcessor,
    VideoSource,
)
from subgraphs.files.processing.mux import MuxEvent
from subgraphs.files.settings import FilesSettings
from subgraphs.files.storage import ObjectInfo, Storage, UploadTarget

log = get_logger("coursegraph.files")

# What each purpose accepts. Courses asks for "lecture_video".
ALLOWED_TYPES: dict[str, frozenset[str]] = {
    "lecture_video": frozenset({"video/mp4", "video/webm", "video/quicktime"}),
}
MAX_FILE_NAME = 255
# A claimed row is someone's for this long; a worker that dies frees it after that.
PROCESSING_LEASE = timedelta(minutes=15)
# The loader's statement, built once (coursegraph/batch.py).
_FILES = select(StoredFile)
_UNSAFE_NAME_CHARS = re.compile(r"[^\w .()\[\]+,-]")


def sanitise_file_name(name: str) -> str:
    """A display name only (storage keys never use it): no path, no control characters."""
    base = re.split(r"[/\\]", name)[-1]
    base = unicodedata.normalize("NFC", base)
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C")
    base = _UNSAFE_NAME_CHARS.sub("_", base)
    base = " ".join(base.split()).lstrip(".")
    if len(base) > MAX_FILE_NAME:
        _, dot, extension = base.rpartition(".")
        keep = extension if dot and len(extension) <= 16 else ""
        base = (
            base[: MAX_FILE_NAME - len(keep) - 1].rstrip() + "." + keep
            if keep
            else base[:MAX_FILE_NAME]
        )
    return base or "upload"


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def upload_problem(row: StoredFile, info: ObjectInfo | None) -> str | None:
    """Why the stored object is not the upload `row` announced, or None: it then goes on
    to PROCESSING, else to FAILED with this reason."""
    if info is None:
        return "The upload was not received."
    if info.size != row.size_bytes:
        return f"The upload has {info.size} bytes; {row.size_bytes} were announced."
    if info.content_type is not None and _media_type(info.content_type) != row.content_type:
        return f"The upload has type {info.content_type}; {row.content_type} was announced."
    return None


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Upload:
    file: StoredFile
    target: UploadTarget


class FileService:
    def __init__(
        self,
        database: Database,
        storage: Storage,
        processor: VideoProcessor,
        settings: FilesSettings,
    ) -> None:
        self._db = database
        self._storage = storage
        self._processor = processor
        self._settings = settings
        # Set by the composition root: the outbox relay and the processing worker.
        self.events_recorded: Callable[[], None] = lambda: None
        self.work_queued: Callable[[], None] = lambda: None

    @property
    def processor_name(self) -> str:
        return self._processor.name

    # ------------------------------------------------------------------ uploads
    async def create_upload(
        self,
        owner_id: str,
        purpose: str,
        file_name: str,
        size_bytes: float,
        content_type: str,
        *,
        uploaded_by: str | None = None,
    ) -> Upload:
        """`uploaded_by`: the account asking (named in the file's video events)."""
        allowed = ALLOWED_TYPES.get(purpose)
        if allowed is None:
            raise BadUserInput(f"Unknown upload purpose {purpose!r}.", field="purpose")
        media_type = _media_type(content_type)
        if media_type not in allowed:
            raise BadUserInput(
                f"Files of type {content_type!r} are not accepted; use one of "
                f"{', '.join(sorted(allowed))}.",
                field="contentType",
            )
        limit = self._settings.max_upload_bytes
        if not math.isfinite(size_bytes) or size_bytes != int(size_bytes) or size_bytes <= 0:
            raise BadUserInput(
                "The file size must be a positive whole number of bytes.", field="sizeBytes"
            )
        if size_bytes > limit:
            raise BadUserInput(
                f"The file is larger than the limit of {limit} bytes.", field="sizeBytes"
            )
        if not owner_id or len(owner_id) > 64:
            raise BadUserInput("The owner id is invalid.", field="ownerId")
        if uploaded_by is not None and not 0 < len(uploaded_by) <= 64:
            raise BadUserInput("The uploader id is invalid.", field="uploadedBy")
        file_id = uuid.uuid4()
        expires_at = _now() + timedelta(seconds=self._settings.upload_url_ttl_seconds)
        row = StoredFile(
            id=file_id,
            owner_id=owner_id,
            uploaded_by=uploaded_by,
            purpose=purpose,
            file_name=sanitise_file_name(file_name),
            content_type=media_type,
            size_bytes=int(size_bytes),
            status=FileStatus.PENDING_UPLOAD,
            storage_key=str(file_id),
            upload_expires_at=expires_at,
            processing_attempts=0,
            created_at=_now(),
        )
        target = self._storage.presign_upload(
            row.storage_key, media_type, row.size_bytes, expires_at
        )
        async with self._db.transaction() as session:
            session.add(row)
        return Upload(row, target)

    async def may_receive_upload(self, file_id: str) -> bool:
        """Only a file still waiting for its upload may be written (not a processed one)."""
        row = await self.get(file_id)
        return row is not None and row.status == FileStatus.PENDING_UPLOAD

    async def confirm_upload(self, file_id: str) -> StoredFile:
        row = await self._require(file_id)
        if row.status != FileStatus.PENDING_UPLOAD:
            return row  # confirmed before: the same answer again
        reason = upload_problem(row, await self._storage.stat(row.storage_key))
        async with self._db.transaction() as session:
            locked = await session.get(StoredFile, row.id, with_for_update=True)
            if locked is None:
                raise NotFound("No such file.")
            if locked.status != FileStatus.PENDING_UPLOAD:
                return locked
            if reason is not None:
                locked.status, locked.failure_reason = FileStatus.FAILED, reason
            else:
                # Stored and checked (UPLOADED); the PROCESSING row is the durable job.
                locked.status = FileStatus.PROCESSING
                locked.processor = self._processor.name
                locked.processing_due_at = _now()
        if reason is None:
            self.work_queued()
        return locked

    # ------------------------------------------------------------------ processing
    async def process_due(self, limit: int = 4) -> int:
        """Claim due files and process them; returns how many were claimed."""
        claimed = await self._claim(limit)
        for source, attempts in claimed:
            await self._process_one(source, attempts)
        return len(claimed)

    async def _claim(self, limit: int) -> list[tuple[VideoSource, int]]:
        async with self._db.transaction() as session:
            rows = (
                await session.scalars(
                    select(StoredFile)
                    .where(
                        StoredFile.status == FileStatus.PROCESSING,
                        StoredFile.mux_asset_id.is_(None),
                        StoredFile.processor == self._processor.name,
                        StoredFile.processing_due_at <= _now(),
                    )
                    .order_by(StoredFile.processing_due_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                row.processing_attempts += 1
                row.processing_due_at = _now() + PROCESSING_LEASE
            return [
                (VideoSource(str(r.id), r.storage_key, r.content_type), r.processing_attempts)
                for r in rows
            ]

    async def _process_one(self, source: VideoSource, attempts: int) -> None:
        try:
            result = await self._processor.process(source)
        except ProcessingFailed as error:
            await self._finish(source.file_id, ready=False, reason=str(error))
            return
        except Exception as error:
            if attempts >= self._settings.processing.max_attempts:
                log.error("video processing gave up", file_id=source.file_id, exc_info=error)
                await self._finish(
                    source.file_id, ready=False, reason="The video could not be processed."
                )
            else:
                delay = outbox_.backoff(attempts, base=5.0, cap=600.0)
                log.warning(
                    "video processing failed; will retry",
                    file_id=source.file_id,
                    attempts=attempts,
                    retry_in=round(delay, 1),
                    error=str(error),
                )
                await self._reschedule(source.file_id, _now() + timedelta(seconds=delay))
            return
        if isinstance(result, Probed):
            await self._finish(source.file_id, ready=True, duration=result.duration_seconds)
        else:
            await self._submitted(source.file_id, result)

    async def _reschedule(self, file_id: str, due: datetime) -> None:
        async with self._db.transaction() as session:
            row = await session.get(StoredFile, uuid.UUID(file_id), with_for_update=True)
            if row is not None and row.status == FileStatus.PROCESSING:
                row.processing_due_at = due

    async def _submitted(self, file_id: str, result: Submitted) -> None:
        async with self._db.transaction() as session:
            row = await session.get(StoredFile, uuid.UUID(file_id), with_for_update=True)
            if row is not None and row.status == FileStatus.PROCESSING and row.mux_asset_id is None:
                row.mux_asset_id = result.asset_id
                row.mux_playback_id = result.playback_id
                return
        # Deleted meanwhile: nobody will ever play this asset. (A row an early webhook
        # already finished keeps the asset: the webhook recorded the same one.)
        if row is None:
            await self._processor.discard(result.asset_id)

    async def _finish(
        self,
        file_id: str,
        *,
        ready: bool,
        duration: float | None = None,
        reason: str | None = None,
    ) -> None:
        async with self._db.transaction() as session:
            row = await session.get(StoredFile, uuid.UUID(file_id), with_for_update=True)
            if row is None or row.status != FileStatus.PROCESSING:
                return  # deleted, or already finished: events are idempotent
            await self._record_outcome(session, row, ready=ready, duration=duration, reason=reason)
        self.events_recorded()

    async def _record_outcome(
        self,
        session: AsyncSession,
        row: StoredFile,
        *,
        ready: bool,
        duration: float | None,
        reason: str | None,
    ) -> None:
        row.status = FileStatus.READY if ready else FileStatus.FAILED
        row.duration_seconds = duration if ready else None
        row.failure_reason = None if ready else reason
        row.processing_due_at = None
        outcome = VideoReady if ready else VideoFailed
        event = outcome(
            fileId=str(row.id),
            ownerId=row.owner_id,
            uploadedBy=row.uploaded_by,
            purpose=row.purpose,
            fileName=row.file_name,
            status=row.status,
            durationSeconds=row.duration_seconds,
            failureReason=row.failure_reason,
            recordedAt=_now(),
        )
        await outbox_.add(session, outbox, event, dedupe_key=f"file:{row.id}:{row.status}")

    async def handle_mux_event(self, event: MuxEvent) -> bool:
        """Apply a verified Mux asset event; False when it concerns no known file."""
        if event.type not in ("video.asset.ready", "video.asset.errored"):
            return True
        async with self._db.transaction() as session:
            row = await session.scalar(
                select(StoredFile)
                .where(StoredFile.mux_asset_id == event.asset_id)
                .with_for_update()
            )
            passthrough = parse_uuid(event.passthrough or "")
            if row is None and passthrough is not None:
                # The asset was created but its id never stored (the process stopped).
                row = await session.get(StoredFile, passthrough, with_for_update=True)
                if row is not None and (row.processor != "mux" or row.mux_asset_id is not None):
                    row = None
            if row is None:
                return False
            if row.status != FileStatus.PROCESSING:
                return True  # a retried delivery of an event already applied
            row.mux_asset_id = event.asset_id
            if event.type == "video.asset.ready":
                row.mux_playback_id = event.playback_id or row.mux_playback_id
                await self._record_outcome(
                    session, row, ready=True, duration=event.duration_seconds, reason=None
                )
            else:
                detail = f": {event.error}" if event.error else "."
                await self._record_outcome(
                    session,
                    row,
                    ready=False,
                    duration=None,
                    reason=f"The video could not be processed{detail}",
                )
        self.events_recorded()
        return True

    # ------------------------------------------------------------------ reads
    async def get(self, file_id: str) -> StoredFile | None:
        return (await self.get_many([file_id]))[0]

    async def get_many(self, file_ids: Sequence[str]) -> list[StoredFile | None]:
        return await load_by_key(self._db, _FILES, StoredFile.id, file_ids)

    async def _require(self, file_id: str) -> StoredFile:
        row = await self.get(file_id)
        if row is None:
            raise NotFound("No such file.")
        return row

    async def media_content_type(self, file_id: str) -> str | None:
        """The type to serve a stored object with, or None when it may not be served."""
        row = await self.get(file_id)
        if row is None or row.status not in (FileStatus.PROCESSING, FileStatus.READY):
            return None
        return row.content_type

    def playback(self, row: StoredFile, viewer_can_watch: bool) -> Playback | None:
        """Signed, expiring playback URLs for an entitled viewer of a READY video."""
        if not viewer_can_watch or row.status != FileStatus.READY:
            return None
        expires_at = _now() + timedelta(seconds=self._settings.playback_url_ttl_seconds)
        return self._processor.playback(
            PlaybackRef(row.storage_key, row.mux_playback_id), expires_at
        )

    # ------------------------------------------------------------------ deletion
    async def delete(self, file_id: str) -> bool:
        parsed = parse_uuid(file_id)
        if parsed is None:
            return False
        async with self._db.transaction() as session:
            row = (
                await session.execute(
                    delete(StoredFile)
                    .where(StoredFile.id == parsed)
                    .returning(StoredFile.storage_key, StoredFile.mux_asset_id)
                )
            ).first()
        if row is None:
            return False
        # After the commit: a failed clean-up leaves an orphan object, never a dangling row.
        try:
            await self._storage.delete(row.storage_key)
            if row.mux_asset_id:
                await self._processor.discard(row.mux_asset_id)
        except Exception:
            log.warning("could not remove a deleted file's data", file_id=file_id, exc_info=True)
        return True
