"""`coursegraph events`, run as a real process against a running consumer's dead letters."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncSession

from coursegraph import dead_letters
from coursegraph.consumers import (
    ConsumerSpec,
    EventConsumer,
    PermanentEventError,
    processed_events_table,
)
from coursegraph.db import Database, create_engine, schema_metadata
from coursegraph.events import Event, InProcessBus, NatsBus
from coursegraph.settings import Settings
from tests.helpers import run_cli


class Mailer:
    """A consumer whose handler refuses events until it is fixed."""

    def __init__(self) -> None:
        self.fixed = False
        self.handled: list[str] = []

    async def handle(self, session: AsyncSession, event: Event) -> None:
        if not self.fixed:
            raise PermanentEventError("template 'receipt' is missing")
        self.handled.append(event.id)


@dataclass
class Running:
    consumer: EventConsumer
    mailer: Mailer
    bus: InProcessBus
    database: Database
    processed: Table

    async def dead_letter_ids(self, expected: int) -> list[str]:
        """The dead letters once there are `expected` (read straight from the table)."""
        dead = self.processed.metadata.tables[f"{self.processed.schema}.dead_letters"]
        for _ in range(600):
            async with self.database.read() as session:
                letters = await dead_letters.listed(session, dead, self.consumer.spec.name)
            if len(letters) == expected:
                return [letter.id for letter in letters]
            await asyncio.sleep(0.05)
        pytest.fail(f"expected {expected} dead letters, found {len(letters)}")


@pytest.fixture
async def running(settings: Settings) -> AsyncIterator[Running]:
    schema = f"cli_consumer_{secrets.token_hex(3)}"
    metadata = schema_metadata(schema)
    processed = processed_events_table(metadata)
    database = Database(create_engine(settings.database_url_for("users"), pool_size=4))
    async with database.engine.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        await connection.run_sync(metadata.create_all)
    mailer, bus = Mailer(), InProcessBus()
    spec = ConsumerSpec(f"mailer-{secrets.token_hex(3)}", ("payment.succeeded",), mailer.handle)
    consumer = EventConsumer(spec, database, processed, nats_url=None, bus=bus)
    await consumer.start()
    yield Running(consumer, mailer, bus, database, processed)
    await consumer.stop()
    async with database.engine.begin() as connection:
        await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    await database.dispose()


async def _cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    # In a thread: the consumer runs on this event loop meanwhile.
    done = await asyncio.to_thread(run_cli, settings, "events", *args)
    return done.returncode, done.stdout, done.stderr


async def test_list_show_and_replay_dead_letters(settings: Settings, running: Running) -> None:
    mailer, bus = running.mailer, running.bus
    name = running.consumer.spec.name
    events = [Event(str(uuid.uuid4()), "payment.succeeded", {"n": n}) for n in range(3)]
    for event in events:
        await bus.publish(event)
    first, second, third = await running.dead_letter_ids(3)
    code, out, err = await _cli(settings, "dead-letters", "--consumer", name)
    assert code == 0, err
    assert [line.split()[0] for line in out.splitlines() if name in line] == [first, second, third]
    assert "template 'receipt' is missing" in out

    code, out, err = await _cli(settings, "show", first)
    assert code == 0, err
    shown = json.loads(out)
    assert shown["consumer"] == name
    assert shown["reason"] == "permanent error: template 'receipt' is missing"
    assert shown["event"]["id"] in {e.id for e in events}
    assert shown["event"]["topic"] == "payment.succeeded"

    # Still broken: the replay fails again and the dead letter stays.
    code, out, err = await _cli(settings, "replay", first, "--wait", "60")
    assert code == 0, err
    assert f"{first}: failed again: permanent error" in out
    # Fixed: one replayed by id, then the rest of this consumer's with --all.
    mailer.fixed = True
    code, out, err = await _cli(settings, "replay", first, "--wait", "60")
    assert f"{first}: replayed ({name}, payment.succeeded)" in out, out + err
    code, out, err = await _cli(settings, "replay", "--all", "--consumer", name, "--wait", "60")
    assert f"{second}: replayed" in out, out + err
    assert f"{third}: replayed" in out
    assert sorted(mailer.handled) == sorted(e.id for e in events)
    code, out, _ = await _cli(settings, "dead-letters", "--consumer", name)
    assert out.strip() == "no dead letters"


async def test_unknown_dead_letters_and_bad_usage_are_refused(settings: Settings) -> None:
    code, _, err = await _cli(settings, "show", str(uuid.uuid4()))
    assert code != 0
    assert "no dead letter" in err
    code, _, err = await _cli(settings, "replay", str(uuid.uuid4()), "--wait", "0")
    assert code != 0
    assert "no dead letter" in err
    code, _, err = await _cli(settings, "replay")
    assert code != 0
    assert "name dead letter ids, or --all" in err


async def test_status_without_and_with_nats(
    settings: Settings, running: Running, nats_url: str
) -> None:
    consumer = running.consumer
    await running.bus.publish(Event(str(uuid.uuid4()), "payment.succeeded", {}))
    await running.dead_letter_ids(1)
    code, out, err = await _cli(settings, "status")
    assert code == 0, err
    assert "bus: in-process" in out
    assert "outbox users:" in out
    assert f"{consumer.spec.name}: 1" in out

    async def handle(session: AsyncSession, event: Event) -> None: ...

    name = f"status-{secrets.token_hex(3)}"
    on_nats = EventConsumer(
        ConsumerSpec(name, (f"status.{name}",), handle),
        running.database,
        running.processed,
        nats_url=nats_url,
    )
    await on_nats.start()
    admin = NatsBus(nats_url, "test-admin")
    try:
        for _ in range(600):  # bound once the consumer exists on the server
            names = [c.name for c in await (await admin.jetstream()).consumers_info("COURSEGRAPH")]
            if name in names:
                break
            await asyncio.sleep(0.05)
        done = await asyncio.to_thread(
            run_cli, settings, "events", "status", env={"NATS_URL": nats_url}
        )
        assert "stream COURSEGRAPH:" in done.stdout, done.stdout + done.stderr
        assert f"consumer {name}: 0 pending" in done.stdout
    finally:
        await on_nats.stop()
        await (await admin.jetstream()).delete_consumer("COURSEGRAPH", name)
        await admin.close()
