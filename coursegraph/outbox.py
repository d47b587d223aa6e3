"""The transactional outbox: effects on other services that must happen, exactly once in
effect, even when those services are down at the moment.

A service writes an outbox row in the same transaction as its change (`add`). The relay
claims due rows with `FOR UPDATE SKIP LOCKED` (so several processes share the work), runs
the topic's handler (e.g. a signed call to another subgraph), publishes the event to the
bus, and marks the row delivered. A failure schedules a retry with exponential backoff.
Delivery is at least once, so every handler is idempotent (they key on the event's data
or id).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from coursegraph.background import PollingLoop
from coursegraph.db import Database
from coursegraph.events import Announcement, Event, EventBus
from coursegraph.log import get_logger

log = get_logger("coursegraph.outbox")

Handler = Callable[[Event], Awaitable[None]]


def outbox_table(metadata: MetaData) -> Table:
    """The outbox table of one subgraph, in that subgraph's schema."""
    return Table(
        "outbox",
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("topic", String(100), nullable=False),
        # The version of the topic's payload contract the row was written in.
        Column("version", Integer, nullable=False, server_default="1"),
        Column("payload", JSONB, nullable=False),
        # The same effect announced twice (say by a webhook and a verify call) is one row.
        Column("dedupe_key", String(200), unique=True),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column(
            "next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()
        ),
        Column("delivered_at", DateTime(timezone=True)),
        Column("last_error", Text),
        Index(
            "ix_outbox_due",
            "next_attempt_at",
            postgresql_where="delivered_at IS NULL",
        ),
    )


async def add(
    session: AsyncSession,
    table: Table,
    event: Announcement,
    *,
    dedupe_key: str | None = None,
) -> None:
    """Record an event inside the caller's transaction. It is a declared payload
    (validated when it was built), so what is written is what its contract says."""
    statement = insert(table).values(
        id=uuid.uuid4(),
        topic=event.TOPIC,
        version=event.VERSION,
        payload=event.event_payload(),
        dedupe_key=dedupe_key,
    )
    if dedupe_key is not None:
        statement = statement.on_conflict_do_nothing(index_elements=[table.c.dedupe_key])
    await session.execute(statement)


def backoff(attempts: int, *, base: float = 1.0, cap: float = 300.0) -> float:
    """Seconds until the next try: exponential with full jitter, capped."""
    return random.uniform(0.5, 1.0) * min(cap, base * 2 ** max(0, attempts - 1))


class OutboxRelay:
    def __init__(
        self,
        database: Database,
        table: Table,
        bus: EventBus,
        handlers: Mapping[str, Handler] | None = None,
        *,
        poll_seconds: float = 2.0,
        batch_size: int = 20,
        max_backoff_seconds: float = 300.0,
        entities: Callable[[Event], Sequence[str]] | None = None,
    ) -> None:
        self._db = database
        self._table = table
        self._bus = bus
        self._handlers = dict(handlers or {})
        self._batch = batch_size
        self._max_backoff = max_backoff_seconds
        # Names what each event changed (the envelope's `entities`): the producer's
        # contracts know, the kernel does not (contracts.events.entities_of).
        self._entities = entities
        self._loop = PollingLoop(
            "outbox-relay", self.deliver_due, batch=batch_size, poll_seconds=poll_seconds
        )

    def wake(self) -> None:
        """Deliver now rather than at the next poll (call after a commit that added rows)."""
        self._loop.wake()

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def deliver_due(self) -> int:
        """One pass: deliver what is due; returns how many rows were tried."""
        t = self._table
        async with self._db.transaction() as session:
            rows = (
                await session.execute(
                    select(
                        t.c.id, t.c.topic, t.c.version, t.c.payload, t.c.created_at, t.c.attempts
                    )
                    .where(t.c.delivered_at.is_(None), t.c.next_attempt_at <= func.now())
                    .order_by(t.c.next_attempt_at)
                    .limit(self._batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                event = Event(
                    id=str(row.id),
                    topic=row.topic,
                    payload=row.payload,
                    version=row.version,
                    occurred_at=row.created_at,
                )
                if self._entities is not None:
                    event = replace(event, entities=tuple(self._entities(event)))
                try:
                    handler = self._handlers.get(event.topic)
                    if handler is not None:
                        await handler(event)
                    await self._bus.publish(event)
                except Exception as error:
                    attempts = row.attempts + 1
                    delay = backoff(attempts, cap=self._max_backoff)
                    log.warning(
                        "outbox delivery failed; will retry",
                        topic=event.topic,
                        event_id=event.id,
                        attempts=attempts,
                        retry_in=round(delay, 1),
                        error=str(error),
                    )
                    await session.execute(
                        update(t)
                        .where(t.c.id == row.id)
                        .values(
                            attempts=attempts,
                            next_attempt_at=datetime.now(UTC) + timedelta(seconds=delay),
                            last_error=str(error)[:2000],
                        )
                    )
                else:
                    await session.execute(
                        update(t)
                        .where(t.c.id == row.id)
                        .values(attempts=row.attempts + 1, delivered_at=func.now(), last_error=None)
                    )
        return len(rows)
