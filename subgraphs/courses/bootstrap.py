"""The courses subgraph's composition root: wired once, in the app's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from contracts.events import entities_of
from coursegraph.db import Database, service_database
from coursegraph.events import EventBus, connect_bus
from coursegraph.http import GraphQLServiceClient, signed_client
from coursegraph.live import LiveFeed
from coursegraph.outbox import OutboxRelay
from coursegraph.settings import Settings, load_section
from subgraphs.courses.clients import FilesClient, PaymentsClient, UsersClient
from subgraphs.courses.enrollments import EnrollmentService
from subgraphs.courses.models import outbox
from subgraphs.courses.service import CourseService
from subgraphs.courses.settings import CoursesSettings
from subgraphs.courses.videos import LIVE_KEYS, VideoService


@dataclass
class CoursesContainer:
    database: Database
    courses: CourseService
    enrollments: EnrollmentService
    videos: VideoService
    users: UsersClient
    payments: PaymentsClient
    files: FilesClient
    bus: EventBus
    relay: OutboxRelay
    live: LiveFeed


def _client(settings: Settings, service: str) -> GraphQLServiceClient:
    return GraphQLServiceClient(
        signed_client(settings, "courses", settings.service_url(service)), service
    )


@asynccontextmanager
async def bootstrap(
    settings: Settings, section: CoursesSettings | None = None, *, relay: bool = True
) -> AsyncIterator[CoursesContainer]:
    """`relay=False` for short-lived processes (seeding): they leave delivery to servers.
    `section` defaults to the environment's."""
    section = section or load_section(CoursesSettings)
    database = service_database(settings, "courses")
    users = UsersClient(_client(settings, "users"))
    payments = PaymentsClient(_client(settings, "payments"))
    files = FilesClient(_client(settings, "files"))
    bus = await connect_bus(settings)
    outbox_relay = OutboxRelay(database, outbox, bus, entities=entities_of)
    wake = outbox_relay.wake
    live = LiveFeed(LIVE_KEYS, nats_url=settings.nats_url, name="courses-live")
    container = CoursesContainer(
        database=database,
        courses=CourseService(database, users, section.max_page_size, on_event=wake),
        enrollments=EnrollmentService(database, users, payments, on_event=wake),
        videos=VideoService(database, files, section.max_video_bytes, live, on_event=wake),
        users=users,
        payments=payments,
        files=files,
        bus=bus,
        relay=outbox_relay,
        live=live,
    )
    if relay:
        # Subscriptions are served by the same processes that deliver the outbox.
        await live.start()
        outbox_relay.start()
    try:
        yield container
    finally:
        await outbox_relay.stop()
        await live.stop()
        await bus.close()
        await users.aclose()
        await payments.aclose()
        await files.aclose()
        await database.dispose()
