"""The users subgraph's composition root: wired once, in the app's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from contracts.events import entities_of
from coursegraph.background import PollingLoop
from coursegraph.db import Database, service_database
from coursegraph.events import EventBus, connect_bus
from coursegraph.outbox import OutboxRelay
from coursegraph.settings import Settings, load_section
from subgraphs.users.keys import KeyStore
from subgraphs.users.models import outbox
from subgraphs.users.service import UserService
from subgraphs.users.settings import UsersSettings
from subgraphs.users.throttle import Throttle

PRUNE_BATCH = 1000


@dataclass
class UsersContainer:
    database: Database
    keys: KeyStore
    users: UserService
    bus: EventBus
    relay: OutboxRelay


def key_store(settings: Settings, section: UsersSettings) -> KeyStore:
    return KeyStore(section.keys_dir(settings), settings.jwt_algorithm, section.jwt_keys_kept)


@asynccontextmanager
async def bootstrap(
    settings: Settings, section: UsersSettings | None = None, *, relay: bool = True
) -> AsyncIterator[UsersContainer]:
    """`section` defaults to the environment's; `relay=False` for short-lived processes
    (CLI, seeding): they leave delivery to servers."""
    section = section or load_section(UsersSettings)
    database = service_database(settings, "users")
    keys = key_store(settings, section)
    keys.load(create=True)
    window_seconds = section.throttle_window_seconds(settings)
    throttle = Throttle(database, section, window_seconds)
    # Throttle counts whose window ended are deleted beside the request handlers.
    pruning = PollingLoop(
        "users-throttle-pruning",
        lambda: throttle.forget_expired(PRUNE_BATCH),
        batch=PRUNE_BATCH,
        poll_seconds=window_seconds,
    )
    bus = await connect_bus(settings)
    outbox_relay = OutboxRelay(database, outbox, bus, entities=entities_of)
    users = UserService(database, keys, throttle, settings, on_event=outbox_relay.wake)
    pruning.start()
    if relay:
        outbox_relay.start()
    try:
        yield UsersContainer(database=database, keys=keys, users=users, bus=bus, relay=outbox_relay)
    finally:
        await outbox_relay.stop()
        await pruning.stop()
        await bus.close()
        await database.dispose()
