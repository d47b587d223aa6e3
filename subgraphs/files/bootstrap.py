"""The files subgraph's composition root: wired once, in the app's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from pydantic import SecretStr

from contracts.events.files import VideoFailed, VideoReady
from coursegraph.background import PollingLoop
from coursegraph.db import Database, create_engine
from coursegraph.events import EventBus, connect_bus
from coursegraph.outbox import OutboxRelay
from coursegraph.settings import Settings
from subgraphs.files.clients import CoursesClient
from subgraphs.files.models import outbox
from subgraphs.files.processing import VideoProcessor
from subgraphs.files.processing.local import LocalProcessor
from subgraphs.files.processing.mux import MuxProcessor, load_signing_key
from subgraphs.files.service import FileService
from subgraphs.files.storage import Storage
from subgraphs.files.storage.local import LocalStorage

PROCESSING_BATCH = 4  # videos probed per pass; each pass is one short transaction per video


@dataclass
class FilesContainer:
    database: Database
    storage: Storage
    # Set when files serves uploads and media itself (local storage).
    local_storage: LocalStorage | None
    files: FileService
    # Set when Mux processes videos: the webhook secret and its tolerance.
    mux_webhook_secret: bytes | None
    mux_webhook_tolerance_seconds: int


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def make_storage(settings: Settings) -> Storage:
    if settings.files_storage == "s3":
        from subgraphs.files.storage.s3 import S3Storage

        return S3Storage(
            settings.files_s3_bucket,
            region=settings.files_s3_region,
            endpoint_url=settings.files_s3_endpoint_url,
            access_key_id=_secret(settings.files_s3_access_key_id),
            secret_access_key=_secret(settings.files_s3_secret_access_key),
        )
    local = LocalStorage(
        settings.files_storage_dir or settings.data_dir / "files",
        settings.files_public_url or settings.service_url("files"),
        settings.files_url_key(),
    )
    local.open()
    return local


def make_processor(settings: Settings, storage: Storage) -> VideoProcessor:
    if settings.files_video_processor == "local":
        return LocalProcessor(storage)
    token_id, token_secret = settings.mux_token_id, settings.mux_token_secret
    key_id, private_key = settings.mux_signing_key_id, settings.mux_signing_private_key
    if not (token_id and token_secret and key_id and private_key and settings.mux_webhook_secret):
        raise RuntimeError(
            "FILES_VIDEO_PROCESSOR=mux needs MUX_TOKEN_ID, MUX_TOKEN_SECRET, "
            "MUX_WEBHOOK_SECRET, MUX_SIGNING_KEY_ID and MUX_SIGNING_PRIVATE_KEY"
        )
    return MuxProcessor(
        storage,
        api_url=settings.mux_api_url,
        token_id=token_id.get_secret_value(),
        token_secret=token_secret.get_secret_value(),
        signing_key_id=key_id,
        signing_key=load_signing_key(private_key.get_secret_value()),
        stream_url=settings.mux_stream_url,
        image_url=settings.mux_image_url,
    )


@asynccontextmanager
async def bootstrap(settings: Settings) -> AsyncIterator[FilesContainer]:
    storage = make_storage(settings)
    processor = make_processor(settings, storage)
    database = Database(
        create_engine(settings.database_url_for("files"), pool_size=settings.database_pool_size)
    )
    files = FileService(database, storage, processor, settings)
    courses = CoursesClient(settings)
    bus: EventBus = await connect_bus(settings.nats_url)
    relay = OutboxRelay(
        database,
        outbox,
        bus,
        {
            VideoReady.TOPIC: courses.deliver_video_event,
            VideoFailed.TOPIC: courses.deliver_video_event,
        },
    )
    # Drains the processing queue (files rows in PROCESSING) beside the request handlers,
    # so confirming an upload returns at once and work left by a restart resumes.
    worker = PollingLoop(
        "files-processing",
        lambda: files.process_due(PROCESSING_BATCH),
        batch=PROCESSING_BATCH,
        poll_seconds=settings.files_processing_poll_seconds,
    )
    files.events_recorded = relay.wake
    files.work_queued = worker.wake
    webhook_secret = settings.mux_webhook_secret
    relay.start()
    worker.start()
    try:
        yield FilesContainer(
            database=database,
            storage=storage,
            local_storage=storage if isinstance(storage, LocalStorage) else None,
            files=files,
            mux_webhook_secret=(
                webhook_secret.get_secret_value().encode()
                if webhook_secret is not None and settings.files_video_processor == "mux"
                else None
            ),
            mux_webhook_tolerance_seconds=settings.mux_webhook_tolerance_seconds,
        )
    finally:
        await worker.stop()
        await relay.stop()
        await bus.close()
        await courses.aclose()
        await processor.close()
        await storage.close()
        await database.dispose()
