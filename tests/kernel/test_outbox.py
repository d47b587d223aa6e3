"""The outbox against real PostgreSQL: retries, exactly-once effect, shared work, buses."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from sqlalchemy import MetaData, func, select, text

from coursegraph import outbox
from coursegraph.db import Database, create_engine, schema_metadata
from coursegraph.events import Event, InProcessBus, NatsBus, decode_nats_message
from coursegraph.settings import Settings


@dataclass(frozen=True)
class ThingHappened:
    TOPIC: ClassVar[str] = "thing.happened"
    VERSION: ClassVar[int] = 2
    n: int

    def event_payload(self) -> dict[str, Any]:
        return {"n": self.n}


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[tuple[Database, MetaData]]:
    schema = f"outbox_test_{secrets.token_hex(3)}"
    metadata = schema_metadata(schema)
    outbox.outbox_table(metadata)
    database = Database(create_engine(settings.database_url_for("users"), pool_size=4))
    async with database.engine.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        await connection.run_sync(metadata.create_all)
    yield database, metadata
    async with database.engine.begin() as connection:
        await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    await database.dispose()


async def _add(database: Database, metadata: MetaData, n: int, key: str | None = None) -> None:
    table = metadata.tables[f"{metadata.schema}.outbox"]
    async with database.transaction() as session:
        for i in range(n):
            await outbox.add(session, table, ThingHappened(i), dedupe_key=key)


async def _undelivered(database: Database, metadata: MetaData) -> int:
    table = metadata.tables[f"{metadata.schema}.outbox"]
    async with database.read() as session:
        count = await session.scalar(
            select(func.count()).select_from(table).where(table.c.delivered_at.is_(None))
        )
    return int(count or 0)


async def test_failed_delivery_is_retried_until_it_lands(
    store: tuple[Database, MetaData],
) -> None:
    database, metadata = store
    table = metadata.tables[f"{metadata.schema}.outbox"]
    calls: list[str] = []

    async def flaky(event: Event) -> None:
        calls.append(event.id)
        if len(calls) < 3:
            raise ConnectionError("courses is down")

    relay = outbox.OutboxRelay(
        database, table, InProcessBus(), {"thing.happened": flaky}, max_backoff_seconds=0.01
    )
    await _add(database, metadata, 1)
    for _ in range(20):
        await relay.deliver_due()
        if not await _undelivered(database, metadata):
            break
        await asyncio.sleep(0.02)
    assert len(calls) == 3
    assert len(set(calls)) == 1  # the same event, retried
    async with database.read() as session:
        row = (await session.execute(select(table))).one()
    assert row.attempts == 3
    assert row.delivered_at is not None
    assert row.last_error is None


async def test_dedupe_key_records_one_event(store: tuple[Database, MetaData]) -> None:
    database, metadata = store
    await _add(database, metadata, 1, key="payment:1:succeeded")
    await _add(database, metadata, 1, key="payment:1:succeeded")
    assert await _undelivered(database, metadata) == 1


async def test_concurrent_relays_deliver_each_event_once(
    store: tuple[Database, MetaData],
) -> None:
    database, metadata = store
    table = metadata.tables[f"{metadata.schema}.outbox"]
    seen: list[int] = []

    async def slow(event: Event) -> None:
        await asyncio.sleep(0.005)
        seen.append(event.payload["n"])

    relays = [
        outbox.OutboxRelay(database, table, InProcessBus(), {"thing.happened": slow}, batch_size=5)
        for _ in range(3)
    ]
    await _add(database, metadata, 30)
    while await _undelivered(database, metadata):
        await asyncio.gather(*(r.deliver_due() for r in relays))
    assert sorted(seen) == list(range(30))


async def test_running_relay_delivers_when_woken(store: tuple[Database, MetaData]) -> None:
    database, metadata = store
    table = metadata.tables[f"{metadata.schema}.outbox"]
    bus = InProcessBus()
    got: asyncio.Queue[Event] = asyncio.Queue()

    async def subscriber(event: Event) -> None:
        await got.put(event)

    bus.subscribe("thing.happened", subscriber)
    relay = outbox.OutboxRelay(database, table, bus, poll_seconds=30)
    relay.start()
    try:
        await _add(database, metadata, 1)
        relay.wake()
        event = await asyncio.wait_for(got.get(), timeout=5)
        assert (event.topic, event.version, event.payload) == ("thing.happened", 2, {"n": 0})
    finally:
        await relay.stop()


def test_backoff_grows_and_is_capped() -> None:
    assert outbox.backoff(1) <= 1.0
    assert 4.0 <= outbox.backoff(4) <= 8.0
    assert outbox.backoff(30, cap=60) <= 60


async def test_nats_bus_publishes_once_per_event_id(nats_url: str) -> None:
    import nats

    bus = await NatsBus.connect(nats_url)
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        topic = f"test.{secrets.token_hex(4)}"
        subscription = await js.subscribe(f"coursegraph.{topic}", ordered_consumer=True)
        event = Event(id=secrets.token_hex(8), topic=topic, payload={"a": 1})
        await bus.publish(event)
        await bus.publish(event)  # a relay retry after a lost acknowledgement
        message = await subscription.next_msg(timeout=5)
        assert decode_nats_message(message.data) == event
        with pytest.raises(nats.errors.TimeoutError):
            await subscription.next_msg(timeout=0.5)
    finally:
        await client.drain()
        await bus.close()


async def test_the_relay_puts_what_the_event_changed_in_the_envelope(
    store: tuple[Database, MetaData],
) -> None:
    database, metadata = store
    table = metadata.tables[f"{metadata.schema}.outbox"]
    bus = InProcessBus()
    published: list[Event] = []

    async def record(event: Event) -> None:
        published.append(event)

    bus.subscribe("thing.happened", record)
    relay = outbox.OutboxRelay(
        database, table, bus, entities=lambda event: (f"Thing:{event.payload['n']}",)
    )
    await _add(database, metadata, 2)
    await relay.deliver_due()
    assert sorted(event.entities for event in published) == [("Thing:0",), ("Thing:1",)]
