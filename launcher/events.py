"""`coursegraph events`: dead letters of every durable consumer, replays, the bus's state.

Dead letters live in a `dead_letters` table in each consumer's schema (any subgraph's
database), so these commands work the same with NATS or without. A replay asks the
running consumer to try again (it polls for requests); `replay` waits a little and says
how each went.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import click
from sqlalchemy import Table, func, select, text

from coursegraph import dead_letters
from coursegraph.database import ensure_database
from coursegraph.db import Database, create_engine, schema_metadata
from coursegraph.events import STREAM, NatsBus
from coursegraph.outbox import outbox_table
from coursegraph.settings import Settings, get_settings
from launcher import subgraph_registry

REPLAY_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Store:
    """One consumer schema's dead letters."""

    database: Database
    schema: str
    table: Table


@asynccontextmanager
async def _stores(settings: Settings) -> AsyncIterator[list[Store]]:
    """Every schema, in every subgraph database, that holds consumers' dead letters."""
    databases = [
        Database(create_engine(url, pool_size=2))
        for url in sorted({settings.database_url_for(n) for n in subgraph_registry.available()})
    ]
    try:
        found: list[Store] = []
        for database in databases:
            async with database.read() as session:
                schemas = await session.scalars(
                    text(
                        "SELECT table_schema FROM information_schema.tables"
                        " WHERE table_name = 'dead_letters' ORDER BY table_schema"
                    )
                )
                for schema in schemas:
                    table = dead_letters.dead_letters_table(schema_metadata(schema))
                    found.append(Store(database, schema, table))
        yield found
    finally:
        for database in databases:
            await database.dispose()


async def _letters(stores: Sequence[Store], consumer: str | None) -> list[Any]:
    found: list[tuple[Store, dead_letters.DeadLetter]] = []
    for store in stores:
        async with store.database.read() as session:
            found += [(store, d) for d in await dead_letters.listed(session, store.table, consumer)]
    return found


def _run(settings: Settings, work: Any) -> Any:
    settings, embedded = ensure_database(settings)
    try:
        return asyncio.run(work(settings))
    finally:
        if embedded is not None:
            embedded.stop()


@click.group()
def events() -> None:
    """Domain events: dead letters, replays and the bus's state."""


consumer_option = click.option("--consumer", default=None, help="Only this consumer's.")


@events.command("dead-letters")
@consumer_option
def list_dead_letters(consumer: str | None) -> None:
    """List the dead letters (oldest first)."""

    async def work(settings: Settings) -> None:
        async with _stores(settings) as stores:
            letters = await _letters(stores, consumer)
        if not letters:
            click.echo("no dead letters")
            return
        for _, letter in letters:
            replay = "  (replay requested)" if letter.replay_requested_at else ""
            click.echo(
                f"{letter.id}  {letter.consumer}  {letter.event.topic}  "
                f"event {letter.event.id}  {letter.deliveries} deliveries  "
                f"{letter.failed_at:%Y-%m-%d %H:%M:%S}{replay}\n    {letter.reason[:200]}"
            )

    _run(get_settings(), work)


@events.command("show")
@click.argument("dead_letter_id")
def show(dead_letter_id: str) -> None:
    """One dead letter in full: the event, why it failed, how often it was tried."""

    async def work(settings: Settings) -> None:
        async with _stores(settings) as stores:
            letters = [d for _, d in await _letters(stores, None) if d.id == dead_letter_id]
        if not letters:
            raise click.ClickException(f"no dead letter {dead_letter_id}")
        letter = letters[0]
        event = letter.event
        click.echo(
            json.dumps(
                {
                    "id": letter.id,
                    "consumer": letter.consumer,
                    "reason": letter.reason,
                    "deliveries": letter.deliveries,
                    "failedAt": letter.failed_at.isoformat(),
                    "replayRequestedAt": letter.replay_requested_at.isoformat()
                    if letter.replay_requested_at
                    else None,
                    "event": {
                        "id": event.id,
                        "topic": event.topic,
                        "version": event.version,
                        "occurredAt": event.occurred_at.isoformat(),
                        "payload": event.payload,
                    },
                },
                indent=2,
            )
        )

    _run(get_settings(), work)


@events.command("replay")
@click.argument("dead_letter_ids", nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="Every dead letter (of --consumer).")
@consumer_option
@click.option(
    "--wait",
    default=15.0,
    show_default=True,
    help="Seconds to wait for the consumers to report (0: just ask).",
)
def replay(
    dead_letter_ids: tuple[str, ...], replay_all: bool, consumer: str | None, wait: float
) -> None:
    """Hand dead letters back to their consumer; each that then succeeds is removed."""
    if bool(dead_letter_ids) == replay_all:
        raise click.UsageError("name dead letter ids, or --all")

    async def work(settings: Settings) -> None:
        async with _stores(settings) as stores:
            chosen = [
                (store, letter)
                for store, letter in await _letters(stores, consumer)
                if replay_all or letter.id in dead_letter_ids
            ]
            missing = set(dead_letter_ids) - {letter.id for _, letter in chosen}
            if missing:
                raise click.ClickException(f"no dead letter {', '.join(sorted(missing))}")
            for store in {id(s): s for s, _ in chosen}.values():
                ids = [letter.id for s, letter in chosen if s is store]
                async with store.database.transaction() as session:
                    await dead_letters.request_replay(session, store.table, ids)
            click.echo(f"{len(chosen)} dead letter(s) handed back to their consumers")
            if wait > 0 and chosen:
                await _report_replays(chosen, wait)

    _run(get_settings(), work)


async def _report_replays(chosen: list[Any], wait: float) -> None:
    deadline = time.monotonic() + wait
    pending = {letter.id: (store, letter) for store, letter in chosen}
    while pending and time.monotonic() < deadline:
        await asyncio.sleep(REPLAY_POLL_SECONDS)
        for letter_id, (store, letter) in list(pending.items()):
            async with store.database.read() as session:
                row = (
                    await session.execute(
                        select(store.table.c.replay_requested_at, store.table.c.reason).where(
                            store.table.c.id == letter_id
                        )
                    )
                ).one_or_none()
            if row is None:
                click.echo(f"{letter_id}: replayed ({letter.consumer}, {letter.event.topic})")
            elif row.replay_requested_at is None:
                click.echo(f"{letter_id}: failed again: {row.reason[:200]}")
            else:
                continue
            del pending[letter_id]
    for letter_id, (_, letter) in pending.items():
        click.echo(f"{letter_id}: not taken yet (is the {letter.consumer} consumer running?)")


@events.command("status")
def status() -> None:
    """The bus (stream, consumers: pending, redelivered), outboxes and dead letters."""

    async def work(settings: Settings) -> None:
        if settings.nats_url:
            await _nats_status(settings.nats_url)
        else:
            click.echo(
                "bus: in-process (NATS_URL unset): each process delivers to its own consumers"
            )
        await _outbox_status(settings)
        async with _stores(settings) as stores:
            letters = await _letters(stores, None)
        counts: dict[str, int] = {}
        for _, letter in letters:
            counts[letter.consumer] = counts.get(letter.consumer, 0) + 1
        listed = ", ".join(f"{c}: {n}" for c, n in sorted(counts.items())) or "none"
        click.echo(f"dead letters: {listed}")

    _run(get_settings(), work)


async def _nats_status(url: str) -> None:
    bus = NatsBus(url, "coursegraph-events-status")
    try:
        jetstream = await bus.jetstream()
        info = await jetstream.stream_info(
            STREAM, subjects_filter=f"{dead_letters.DLQ_SUBJECT_PREFIX}>"
        )
        state = info.state
        click.echo(
            f"stream {STREAM}: {state.messages} messages, {state.bytes} bytes, "
            f"sequence {state.first_seq}..{state.last_seq}"
        )
        dlq = sum((state.subjects or {}).values())
        click.echo(f"  dead letters published on {dead_letters.DLQ_SUBJECT_PREFIX}*: {dlq}")
        for consumer in await jetstream.consumers_info(STREAM):
            click.echo(
                f"  consumer {consumer.name}: {consumer.num_pending} pending, "
                f"{consumer.num_ack_pending} in hand, {consumer.num_redelivered} redelivered, "
                f"{consumer.num_waiting} waiting pulls"
            )
    except Exception as error:
        click.echo(f"bus: NATS at {url} does not answer: {error}")
    finally:
        await bus.close()


async def _outbox_status(settings: Settings) -> None:
    for name in subgraph_registry.available():
        database = Database(create_engine(settings.database_url_for(name), pool_size=1))
        table = outbox_table(schema_metadata(name))
        try:
            async with database.read() as session:
                exists = await session.scalar(
                    text("SELECT to_regclass(:t)"), {"t": f"{name}.outbox"}
                )
                if exists is None:
                    continue
                waiting = await session.scalar(
                    select(func.count()).select_from(table).where(table.c.delivered_at.is_(None))
                )
            click.echo(f"outbox {name}: {waiting} event(s) not yet published")
        finally:
            await database.dispose()
