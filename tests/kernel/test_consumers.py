"""Durable consumers against real PostgreSQL and a real NATS (and the in-process bus):
each event's effects happen once, under redelivery, duplicates, failures, poison events,
restarts and two processes sharing one durable consumer."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from coursegraph import dead_letters, outbox
from coursegraph.consumers import (
    ConsumerHandler,
    ConsumerSpec,
    EventConsumer,
    PermanentEventError,
    processed_events_table,
)
from coursegraph.db import Database, create_engine, schema_metadata
from coursegraph.events import Event, InProcessBus, NatsBus, encode, subject
from coursegraph.settings import Settings
from tests.services import own_nats_server

FAST = (0.05,)  # backoff in tests: retries come at once, in order


@dataclass
class Store:
    database: Database
    processed: Table
    effects: Table
    dead: Table
    outbox: Table

    async def effects_of(self, event_id: str) -> int:
        async with self.database.read() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(self.effects)
                .where(self.effects.c.event_id == event_id)
            )
        return int(count or 0)

    async def all_effects(self) -> list[str]:
        async with self.database.read() as session:
            return list(await session.scalars(select(self.effects.c.event_id)))

    async def dead_letters(self) -> list[dead_letters.DeadLetter]:
        async with self.database.read() as session:
            return await dead_letters.listed(session, self.dead)


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    schema = f"consumer_test_{secrets.token_hex(3)}"
    metadata = schema_metadata(schema)
    processed = processed_events_table(metadata)
    outbox.outbox_table(metadata)
    effects = Table("effects", metadata, Column("n", Integer, primary_key=True, autoincrement=True),
                    Column("event_id", String(100), nullable=False))  # fmt: skip
    database = Database(create_engine(settings.database_url_for("users"), pool_size=6))
    async with database.engine.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        await connection.run_sync(metadata.create_all)
    yield Store(
        database,
        processed,
        effects,
        metadata.tables[f"{schema}.dead_letters"],
        metadata.tables[f"{schema}.outbox"],
    )
    async with database.engine.begin() as connection:
        await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    await database.dispose()


@dataclass
class Harness:
    """Publishes events and builds consumers on one bus: a real NATS or in-process."""

    store: Store
    nats_url: str | None
    topic: str = field(default_factory=lambda: f"test.{secrets.token_hex(4)}")
    name: str = field(default_factory=lambda: f"test-{secrets.token_hex(4)}")
    memory: InProcessBus = field(default_factory=InProcessBus)
    publisher: NatsBus | None = None
    consumers: list[EventConsumer] = field(default_factory=list)

    def event(self, **payload: object) -> Event:
        return Event(id=str(uuid.uuid4()), topic=self.topic, payload=dict(payload))

    async def publish(self, event: Event, *, message_id: str | None = None) -> None:
        """`message_id` other than the event's: a copy JetStream does not de-duplicate."""
        if self.publisher is None:
            await self.memory.publish(event)
            return
        await self.publisher.publish_raw(
            subject(event.topic), encode(event), {"Nats-Msg-Id": message_id or event.id}
        )

    async def consumer(
        self, handle: ConsumerHandler, *, topics: tuple[str, ...] = (), **spec: object
    ) -> EventConsumer:
        options: dict[str, object] = {"backoff_seconds": FAST} | spec
        consumer = EventConsumer(
            ConsumerSpec(self.name, topics or (self.topic,), handle, **options),  # type: ignore[arg-type]
            self.store.database,
            self.store.processed,
            nats_url=self.nats_url,
            bus=self.memory,
        )
        await consumer.start()
        self.consumers.append(consumer)
        return consumer

    def recorder(self, before: Callable[[Event], Awaitable[None]] | None = None) -> ConsumerHandler:
        """A handler whose effect is a row in the consumer's transaction."""

        async def handle(session: AsyncSession, event: Event) -> None:
            if before is not None:
                await before(event)
            await session.execute(insert(self.store.effects).values(event_id=event.id))

        return handle


@pytest.fixture(params=["nats", "in-process"])
async def harness(request: pytest.FixtureRequest, store: Store) -> AsyncIterator[Harness]:
    nats_url = request.getfixturevalue("nats_url") if request.param == "nats" else None
    harness = Harness(store, nats_url)
    if nats_url is not None:
        harness.publisher = await NatsBus.connect(nats_url)
    yield harness
    for consumer in harness.consumers:
        await consumer.stop()
    if harness.publisher is not None:
        await (await harness.publisher.jetstream()).delete_consumer("COURSEGRAPH", harness.name)
        await harness.publisher.close()


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait until `check` holds (delivery is asynchronous); fail after a generous bound."""
    for _ in range(600):
        if await check():
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"never happened: {what}")


async def test_duplicates_change_the_world_once(harness: Harness) -> None:
    await harness.consumer(harness.recorder())
    event, other = harness.event(n=1), harness.event(n=2)
    await harness.publish(event)
    await harness.publish(event, message_id=f"{event.id}-again")  # a second relay publish
    await harness.publish(other)
    await eventually(lambda: _has(harness.store, other.id), "the later event handled")
    await eventually(lambda: _count_processed(harness.store, 2), "both ids processed")
    assert await harness.store.effects_of(event.id) == 1


async def test_a_consumer_gets_the_topics_it_names_only(harness: Harness) -> None:
    other_topic = f"{harness.topic}.other"
    await harness.consumer(harness.recorder(), topics=(harness.topic, other_topic))
    mine, also_mine = harness.event(), Event(str(uuid.uuid4()), other_topic, {})
    not_mine = Event(str(uuid.uuid4()), f"{harness.topic}.unrelated", {})
    for event in (not_mine, mine, also_mine):
        await harness.publish(event)
    await eventually(lambda: _count_processed(harness.store, 2), "both topics handled")
    assert sorted(await harness.store.all_effects()) == sorted([mine.id, also_mine.id])


async def test_a_failing_handler_is_retried_until_it_works_and_acts_once(
    harness: Harness,
) -> None:
    attempts: list[str] = []

    async def fail_twice(event: Event) -> None:
        attempts.append(event.id)
        if len(attempts) < 3:
            raise ConnectionError("SMTP is down")

    await harness.consumer(harness.recorder(fail_twice))
    event = harness.event()
    await harness.publish(event)
    await eventually(lambda: _has(harness.store, event.id), "the event handled")
    assert attempts == [event.id] * 3
    assert await harness.store.effects_of(event.id) == 1
    assert await harness.store.dead_letters() == []


async def test_poison_events_are_dead_lettered_and_the_rest_go_on(harness: Harness) -> None:
    async def choose(event: Event) -> None:
        if event.payload.get("kind") == "permanent":
            raise PermanentEventError("no such user")
        if event.payload.get("kind") == "always fails":
            raise RuntimeError("boom")

    def validate(event: Event) -> None:
        if "kind" not in event.payload:
            raise ValueError("kind is required")

    await harness.consumer(harness.recorder(choose), validate=validate, max_deliveries=3)
    invalid, permanent, failing = (
        harness.event(),
        harness.event(kind="permanent"),
        harness.event(kind="always fails"),
    )
    good = harness.event(kind="fine")
    for event in (invalid, permanent, failing, good):
        await harness.publish(event)
    await eventually(lambda: _has(harness.store, good.id), "the good event handled")
    await eventually(lambda: _dead_count(harness.store, 3), "three dead letters")
    letters = {d.event.id: d for d in await harness.store.dead_letters()}
    assert "kind is required" in letters[invalid.id].reason
    assert letters[invalid.id].deliveries == 1
    assert "no such user" in letters[permanent.id].reason
    assert letters[failing.id].deliveries == 3
    assert "gave up after 3 deliveries" in letters[failing.id].reason
    assert letters[failing.id].event == failing
    assert await harness.store.all_effects() == [good.id]


async def test_a_replayed_dead_letter_is_handled_once_and_removed(harness: Harness) -> None:
    broken = True

    async def until_fixed(event: Event) -> None:
        if broken:
            raise PermanentEventError("template missing")

    consumer = await harness.consumer(harness.recorder(until_fixed))
    event = harness.event()
    await harness.publish(event)
    await eventually(lambda: _dead_count(harness.store, 1), "the dead letter")
    (letter,) = await harness.store.dead_letters()

    async with harness.store.database.transaction() as session:
        assert await dead_letters.request_replay(session, harness.store.dead, [letter.id]) == 1
    await consumer.replay_requested()  # still broken: dead again, no longer requested
    (again,) = await harness.store.dead_letters()
    assert (again.id, again.replay_requested_at, again.deliveries) == (letter.id, None, 2)

    broken = False
    async with harness.store.database.transaction() as session:
        await dead_letters.request_replay(session, harness.store.dead, None, harness.name)
    await eventually(lambda: _dead_count(harness.store, 0), "the replay (by the poll loop)")
    assert await harness.store.effects_of(event.id) == 1


async def test_a_restarted_consumer_loses_nothing_and_doubles_nothing(
    store: Store, nats_url: str
) -> None:
    harness = Harness(store, nats_url)
    harness.publisher = await NatsBus.connect(nats_url)
    try:
        handled: list[str] = []
        enough = asyncio.Event()

        async def count(event: Event) -> None:
            handled.append(event.id)
            if len(handled) == 10:
                enough.set()

        first = await harness.consumer(harness.recorder(count))
        events = [harness.event(n=i) for i in range(40)]
        for event in events:
            await harness.publish(event)
        await enough.wait()
        await first.stop()  # mid-stream: some fetched, some not yet
        harness.consumers.remove(first)
        await harness.consumer(harness.recorder(count))
        await eventually(lambda: _count_processed(store, 40), "every event handled")
        assert sorted(await store.all_effects()) == sorted(e.id for e in events)
    finally:
        for consumer in harness.consumers:
            await consumer.stop()
        await (await harness.publisher.jetstream()).delete_consumer("COURSEGRAPH", harness.name)
        await harness.publisher.close()


async def test_two_processes_share_one_durable_consumer(store: Store, nats_url: str) -> None:
    harness = Harness(store, nats_url)
    harness.publisher = await NatsBus.connect(nats_url)
    try:
        by: dict[str, list[str]] = {"a": [], "b": []}
        b_handled = asyncio.Event()

        def worker(name: str) -> Callable[[Event], Awaitable[None]]:
            async def note(event: Event) -> None:
                if name == "a" and not by["a"]:
                    await b_handled.wait()  # holds its batch until the other one works
                by[name].append(event.id)
                if name == "b":
                    b_handled.set()

            return note

        await harness.consumer(harness.recorder(worker("a")))
        events = [harness.event(n=i) for i in range(40)]
        for event in events:
            await harness.publish(event)
        await harness.consumer(harness.recorder(worker("b")))
        await eventually(lambda: _count_processed(store, 40), "every event handled")
        assert by["a"]
        assert by["b"]
        assert sorted(by["a"] + by["b"]) == sorted(e.id for e in events)
        assert sorted(await store.all_effects()) == sorted(e.id for e in events)
    finally:
        for consumer in harness.consumers:
            await consumer.stop()
        await (await harness.publisher.jetstream()).delete_consumer("COURSEGRAPH", harness.name)
        await harness.publisher.close()


async def test_dead_letters_are_published_for_watchers(store: Store, nats_url: str) -> None:
    import nats

    harness = Harness(store, nats_url)
    harness.publisher = await NatsBus.connect(nats_url)
    client = await nats.connect(nats_url)
    try:
        watch = await client.jetstream().subscribe(
            f"{dead_letters.DLQ_SUBJECT_PREFIX}{harness.name}", ordered_consumer=True
        )

        async def refuse(event: Event) -> None:
            raise PermanentEventError("refused")

        await harness.consumer(harness.recorder(refuse))
        event = harness.event()
        await harness.publish(event)
        message = await watch.next_msg(timeout=30)
        assert message.headers is not None
        assert message.headers["Coursegraph-Event-Id"] == event.id
        assert message.headers["Coursegraph-Deliveries"] == "1"
        assert "refused" in message.headers["Coursegraph-Reason"]
    finally:
        for consumer in harness.consumers:
            await consumer.stop()
        await (await harness.publisher.jetstream()).delete_consumer("COURSEGRAPH", harness.name)
        await harness.publisher.close()
        await client.drain()


@dataclass(frozen=True)
class Happened:
    TOPIC: ClassVar[str]
    VERSION: ClassVar[int] = 1
    n: int

    def event_payload(self) -> dict[str, Any]:
        return {"n": self.n}


async def test_events_wait_in_the_outbox_while_nats_is_down(store: Store, tmp_path: Path) -> None:
    """NATS stops: the relay's publishes fail and the rows stay; NATS comes back on the
    same port and storage: every event reaches the consumer, once."""
    harness = Harness(store, None)
    kind = type("Happened", (Happened,), {"TOPIC": harness.topic})
    with own_nats_server(tmp_path) as (url, port):
        harness.nats_url = url
        bus = await NatsBus.connect(url)
        relay = outbox.OutboxRelay(store.database, store.outbox, bus, max_backoff_seconds=0.01)
        await harness.consumer(harness.recorder())
    try:
        async with store.database.transaction() as session:
            for n in range(3):
                await outbox.add(session, store.outbox, kind(n))
        assert await relay.deliver_due() == 3
        assert await _undelivered(store) == 3  # kept, to be tried again
        with own_nats_server(tmp_path, port):
            while await _undelivered(store):
                await asyncio.sleep(0.05)
                await relay.deliver_due()
            await eventually(lambda: _count_processed(store, 3), "the three events handled")
            await relay.deliver_due()  # nothing left to send again
            async with store.database.read() as session:
                ids = {str(i) for i in await session.scalars(select(store.outbox.c.id))}
            assert sorted(await store.all_effects()) == sorted(ids)
            for consumer in harness.consumers:
                await consumer.stop()
            await (await bus.jetstream()).delete_consumer("COURSEGRAPH", harness.name)
    finally:
        harness.consumers.clear()
        await bus.close()


async def _undelivered(store: Store) -> int:
    async with store.database.read() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(store.outbox)
            .where(store.outbox.c.delivered_at.is_(None))
        )
    return int(count or 0)


async def test_rows_older_than_twice_the_retention_are_forgotten(harness: Harness) -> None:
    consumer = await harness.consumer(harness.recorder())
    old, recent = harness.event(n=1), harness.event(n=2)
    for event in (old, recent):
        await harness.publish(event)
    await eventually(lambda: _count_processed(harness.store, 2), "both processed")
    table = harness.store.processed
    async with harness.store.database.transaction() as session:
        # 15 days ago (retention 7: kept 14); another consumer's old row is not ours to drop.
        await session.execute(
            table.update()
            .where(table.c.event_id == old.id)
            .values(processed_at=func.now() - text("interval '15 days'"))
        )
        await session.execute(
            insert(table).values(
                consumer="someone-else",
                event_id=old.id,
                topic=old.topic,
                processed_at=func.now() - text("interval '30 days'"),
            )
        )
    assert await consumer.prune_processed() == 1
    assert await consumer.prune_processed() == 0
    async with harness.store.database.read() as session:
        left = set(await session.execute(select(table.c.consumer, table.c.event_id)))
    assert left == {(harness.name, recent.id), ("someone-else", old.id)}


async def test_the_stream_keeps_events_as_long_as_the_setting_says(nats_url: str) -> None:
    def days(info: Any) -> float:
        return float(info.config.max_age) / 86_400

    told = NatsBus(nats_url, "retention-test", retention_days=3)
    untold = NatsBus(nats_url, "retention-untold")
    try:
        jetstream = await told.jetstream()
        assert days(await jetstream.stream_info("COURSEGRAPH")) == 3
        # A bus not told the setting (a command, a consumer of an older build) leaves it.
        await untold.jetstream()
        assert days(await jetstream.stream_info("COURSEGRAPH")) == 3
    finally:
        restore = NatsBus(nats_url, "retention-restore", retention_days=7)
        assert days(await (await restore.jetstream()).stream_info("COURSEGRAPH")) == 7
        for bus in (told, untold, restore):
            await bus.close()


def test_backoff_steps_then_repeats_the_last() -> None:
    async def handle(session: AsyncSession, event: Event) -> None: ...

    spec = ConsumerSpec("c", ("t",), handle, backoff_seconds=(1, 5, 30))
    assert [spec.delay(n) for n in (1, 2, 3, 4, 9)] == [1, 5, 30, 30, 30]


def test_processed_events_table_declares_the_dead_letters() -> None:
    metadata = MetaData()
    processed = processed_events_table(metadata)
    outbox.outbox_table(metadata)
    assert [c.name for c in processed.primary_key.columns] == ["consumer", "event_id"]
    assert "dead_letters" in metadata.tables


async def _has(store: Store, event_id: str) -> bool:
    return await store.effects_of(event_id) > 0


async def _count_processed(store: Store, n: int) -> bool:
    async with store.database.read() as session:
        count = await session.scalar(select(func.count()).select_from(store.processed))
    return count == n


async def _dead_count(store: Store, n: int) -> bool:
    return len(await store.dead_letters()) == n
