"""The files subgraph's composition root: wired once, in the app's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from pydantic import SecretStr

from contracts.events import entities_of
from coursegraph.background import PollingLoop
from coursegraph.db import Database, service_database
from coursegraph.events import EventBus, connect_bus
from coursegraph.outbox import OutboxRelay
from coursegraph.settings import Settings, load_section
from subgraphs.files.clients import CoursesClient
from subgraphs.files.effects import outbox_handlers
from subgraphs.files.models import outbox
from subgraphs.files.processing import VideoProcessor
from subgraphs.files.processing.local import LocalProcessor
from subgraphs.files.processing.mux import MuxProcessor, load_signing_key
from subgraphs.files.service import FileService
from subgraphs.files.settings import FilesSettings
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


def make_storage(settings: Settings, section: FilesSettings) -> Storage:
    if section.storage == "s3":
        from subgraphs.files.storage.s3 import S3Storage

        s3 = section.s3
        return S3Storage(
            s3.bucket,
            region=s3.region,
            endpoint_url=s3.endpoint_url,
            access_key_id=_secret(s3.access_key_id),
            secret_access_key=_secret(s3.secret_access_key),
        )
    local = LocalStorage(
        section.resolved_storage_dir(settings),
        section.resolved_public_url(settings),
        section.url_key(settings),
    )
    local.open()
    return local


def make_processor(section: FilesSettings, storage: Storage) -> VideoProcessor:
    if section.video_processor == "local":
        return LocalProcessor(storage)
    mux = section.mux
    token_id, token_secret = mux.token_id, mux.token_secret
    key_id, private_key = mux.signing_key_id, mux.signing_private_key
    if not (token_id and token_secret and key_id and private_key and mux.webhook_secret):
        raise RuntimeError(
            "FILES_VIDEO_PROCESSOR=mux needs MUX_TOKEN_ID, MUX_TOKEN_SECRET, "
            "MUX_WEBHOOK_SECRET, MUX_SIGNING_KEY_ID and MUX_SIGNING_PRIVATE_KEY"
        )
    return MuxProcessor(
        storage,
        api_url=mux.api_url,
        token_id=token_id.get_secret_value(),
        token_secret=token_secret.get_secret_value(),
        signing_key_id=key_id,
        signing_key=load_signing_key(private_key.get_secret_value()),
        stream_url=mux.stream_url,
        image_url=mux.image_url,
    )


@asynccontextmanager
async def bootstrap(
    settings: Settings, section: FilesSettings | None = None
) -> AsyncIterator[FilesContainer]:
    """`section` defaults to the environment's."""
    section = section or load_section(FilesSettings)
    storage = make_storage(settings, section)
    processor = make_processor(section, storage)
    database = service_database(settings, "files")
    files = FileService(database, storage, processor, section)
    courses = CoursesClient(settings)
    bus: EventBus = await connect_bus(settings)
    relay = OutboxRelay(database, outbox, bus, outbox_handlers(courses), entities=entities_of)
    # Drains the processing queue (files rows in PROCESSING) beside the request handlers,
    # so confirming an upload returns at once and work left by a restart resumes.
    worker = PollingLoop(
        "files-processing",
        lambda: files.process_due(PROCESSING_BATCH),
        batch=PROCESSING_BATCH,
        poll_seconds=section.processing.poll_seconds,
    )
    files.events_recorded = relay.wake
    files.work_queued = worker.wake
    webhook_secret = section.mux.webhook_secret
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
                if webhook_secret is not None and section.video_processor == "mux"
                else None
            ),
            mux_webhook_tolerance_seconds=section.mux.webhook_tolerance_seconds,
        )
    finally:
        await worker.stop()
        await relay.stop()
        await bus.close()
        await courses.aclose()
        await processor.close()
        await storage.close()
        await database.dispose()
