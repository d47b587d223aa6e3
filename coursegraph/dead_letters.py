"""Dead letters: events a durable consumer gave up on, kept in the consumer's own schema.

One table serves both buses, so `coursegraph events` reads and replays them the same way
with NATS or without. A replay is a request (`replay_requested_at`): the running
consumer takes it on its next pass, handles the event once more (still de-duplicated by
its id) and deletes the dead letter when that worked, or records the new failure. With
NATS, each dead letter is also published to `coursegraph.dlq.<consumer>` for tools that
watch the stream; the table is what the commands act on.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from coursegraph.events import Event

DLQ_SUBJECT_PREFIX = "coursegraph.dlq."


def dead_letters_table(metadata: MetaData) -> Table:
    return Table(
        "dead_letters",
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("consumer", String(100), nullable=False),
        Column("event_id", String(100), nullable=False),
        Column("topic", String(100), nullable=False),
        Column("version", Integer, nullable=False),
        Column("occurred_at", DateTime(timezone=True), nullable=False),
        Column("payload", JSONB, nullable=False),
        Column("reason", Text, nullable=False),
        Column("deliveries", Integer, nullable=False),
        Column("failed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("replay_requested_at", DateTime(timezone=True)),
        # An event dead-lettered again after a replay is the same dead letter, updated.
        UniqueConstraint("consumer", "event_id", name="uq_dead_letters_consumer_event_id"),
        Index(
            "ix_dead_letters_replay",
            "consumer",
            postgresql_where="replay_requested_at IS NOT NULL",
        ),
    )


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: str
    consumer: str
    event: Event
    reason: str
    deliveries: int
    failed_at: datetime
    replay_requested_at: datetime | None


def _row_to_dead_letter(row: Any) -> DeadLetter:
    return DeadLetter(
        id=str(row.id),
        consumer=row.consumer,
        event=Event(
            id=row.event_id,
            topic=row.topic,
            payload=row.payload,
            version=row.version,
            occurred_at=row.occurred_at,
        ),
        reason=row.reason,
        deliveries=row.deliveries,
        failed_at=row.failed_at,
        replay_requested_at=row.replay_requested_at,
    )


async def record(
    session: AsyncSession,
    table: Table,
    consumer: str,
    event: Event,
    reason: str,
    deliveries: int,
) -> str:
    """Keep (or update) the dead letter of `event` for `consumer`; returns its id."""
    statement = insert(table).values(
        id=uuid.uuid4(),
        consumer=consumer,
        event_id=event.id,
        topic=event.topic,
        version=event.version,
        occurred_at=event.occurred_at,
        payload=event.payload,
        reason=reason[:4000],
        deliveries=deliveries,
    )
    upsert = statement.on_conflict_do_update(
        constraint="uq_dead_letters_consumer_event_id",
        set_={
            "reason": statement.excluded.reason,
            "deliveries": table.c.deliveries + statement.excluded.deliveries,
            "failed_at": func.now(),
            "replay_requested_at": None,
        },
    ).returning(table.c.id)
    return str(await session.scalar(upsert))


async def due_for_replay(
    session: AsyncSession, table: Table, consumer: str, limit: int
) -> list[DeadLetter]:
    """Replays requested for `consumer`, locked (other processes skip them)."""
    rows = await session.execute(
        select(table)
        .where(table.c.consumer == consumer, table.c.replay_requested_at.is_not(None))
        .order_by(table.c.replay_requested_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [_row_to_dead_letter(row) for row in rows]


async def listed(
    session: AsyncSession, table: Table, consumer: str | None = None
) -> list[DeadLetter]:
    query = select(table).order_by(table.c.failed_at, table.c.id)
    if consumer is not None:
        query = query.where(table.c.consumer == consumer)
    return [_row_to_dead_letter(row) for row in await session.execute(query)]


async def request_replay(
    session: AsyncSession, table: Table, ids: Sequence[str] | None, consumer: str | None = None
) -> int:
    """Ask the consumers to replay these dead letters (`ids=None`: all, or all of
    `consumer`); returns how many were asked."""
    statement = update(table).values(replay_requested_at=func.now())
    if ids is not None:
        statement = statement.where(table.c.id.in_([uuid.UUID(i) for i in ids]))
    if consumer is not None:
        statement = statement.where(table.c.consumer == consumer)
    result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)
