"""Durable, idempotent event consumers: each event changes the consumer's world once.

One transaction per event: the row (consumer, event id) goes into `processed_events`
with `ON CONFLICT DO NOTHING`; if it was there the event is a duplicate (a redelivery, a
relay's second publish) and is only acknowledged; otherwise the handler runs in the same
transaction, which commits before the acknowledgement. A crash anywhere before the commit
leaves nothing behind and the event comes again; after it, the event is a duplicate.

A handler that raises is retried with backoff (`backoff_seconds`, the last one repeating)
until `max_deliveries`; then, or at once for a `PermanentEventError` or an event the
spec's `validate` refuses, the event becomes a dead letter (`coursegraph.dead_letters`)
and the consumer goes on: a poison event never blocks the rest.

With NATS: a JetStream durable pull consumer named after the spec on stream COURSEGRAPH,
explicit acks, redelivery by `nak(delay)`. Every process of a service binds the same
durable, so they share the work. Without NATS: the process-wide in-process bus, with the
same de-duplication, backoff, delivery limit and dead letters, but in memory: events not
yet handled when the process stops are gone (the outbox marked them delivered), so
anything that must survive restarts runs with NATS (`make dev` does).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, String, Table, delete, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from coursegraph import dead_letters
from coursegraph.background import PollingLoop
from coursegraph.db import Database
from coursegraph.events import (
    STREAM,
    EventBus,
    InProcessBus,
    NatsBus,
    decode_nats_message,
    encode,
    in_process_bus,
    subject,
)
from coursegraph.events import Event as Event
from coursegraph.log import get_logger
from coursegraph.settings import DEFAULT_RETENTION_DAYS

log = get_logger("coursegraph.consumers")

ConsumerHandler = Callable[[AsyncSession, Event], Awaitable[None]]
# Raises (anything) for an event the consumer cannot accept: it is dead-lettered at once.
EventValidator = Callable[[Event], object]

FETCH_BATCH = 10
FETCH_WAIT_SECONDS = 1.0  # how long `stop` may wait for an idle fetch to end
ACK_WAIT_SECONDS = 60.0  # a handler still running after this is presumed dead
# JetStream stops redelivering after this many more deliveries than the spec's limit. The
# consumer dead-letters at the limit itself; the margin covers a dead-letter store that
# is down then (each of these retries waits the last backoff).
NATS_DELIVERY_MARGIN = 16
REPLAY_BATCH = 20
REPLAY_POLL_SECONDS = 2.0
PRUNE_BATCH = 1000
PRUNE_POLL_SECONDS = 3600.0


class PermanentEventError(Exception):
    """Raised by a handler for an event that no retry can make work: dead-lettered now."""


def processed_events_table(metadata: MetaData) -> Table:
    """The consumer's bookkeeping, in its subgraph's schema: `processed_events` (returned)
    and `dead_letters` (declared beside it, for `coursegraph events`)."""
    if "dead_letters" not in {t.name for t in metadata.tables.values()}:
        dead_letters.dead_letters_table(metadata)
    return Table(
        "processed_events",
        metadata,
        # Primary key (consumer, event_id): a second delivery of an event finds the first's
        # row, committed with the first's effects.
        Column("consumer", String(100), primary_key=True),
        Column("event_id", String(100), primary_key=True),
        Column("topic", String(100), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


@dataclass(frozen=True)
class ConsumerSpec:
    name: str  # durable name, e.g. "notifications"
    topics: tuple[str, ...]
    handle: ConsumerHandler  # runs inside the consumer's DB transaction
    max_deliveries: int = 8
    backoff_seconds: tuple[float, ...] = (1, 5, 30, 120, 600)
    # E.g. `contracts.events.validate` (the kernel knows no contracts).
    validate: EventValidator | None = None

    def delay(self, deliveries: int) -> float:
        """Seconds before delivery number `deliveries + 1`."""
        return self.backoff_seconds[min(deliveries, len(self.backoff_seconds)) - 1]


@dataclass(frozen=True, slots=True)
class _Outcome:
    """Done (handled, or a duplicate), retry after `retry_in`, or dead for `reason`."""

    retry_in: float | None = None
    dead: str | None = None


_DONE = _Outcome()


class EventConsumer:
    """Built by the subgraph's bootstrap; `start` in the lifespan, `stop` at its end."""

    def __init__(
        self,
        spec: ConsumerSpec,
        database: Database,
        processed: Table,
        *,
        nats_url: str | None,
        bus: EventBus | None = None,
        retention_days: int = DEFAULT_RETENTION_DAYS,
    ) -> None:
        """`retention_days`: the event stream's (EVENTS_RETENTION_DAYS). The (consumer,
        event id) rows are kept twice as long: an event can only come again while the
        stream holds it, or from an outbox relay's late second publish."""
        if not spec.topics or spec.max_deliveries < 1 or not spec.backoff_seconds:
            raise ValueError(f"consumer {spec.name!r}: topics, deliveries and backoff needed")
        self.spec = spec
        self._db = database
        self._processed = processed
        self._dead = processed.metadata.tables[
            f"{processed.schema}.dead_letters" if processed.schema else "dead_letters"
        ]
        self._nats_url = nats_url
        self._bus = bus
        self._retention_days = retention_days
        self._nats: NatsBus | None = None
        self._subscription: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._unsubscribe: list[Callable[[], None]] = []
        # In-process mode: (due, order, deliveries so far, event), earliest first.
        self._queue: list[tuple[float, int, int, Event]] = []
        self._order = itertools.count()
        self._queued = asyncio.Event()
        self._replays = PollingLoop(
            f"consumer-replay-{spec.name}",
            self.replay_requested,
            batch=REPLAY_BATCH,
            poll_seconds=REPLAY_POLL_SECONDS,
        )
        self._pruning = PollingLoop(
            f"consumer-prune-{spec.name}",
            self.prune_processed,
            batch=PRUNE_BATCH,
            poll_seconds=PRUNE_POLL_SECONDS,
        )

    # ------------------------------------------------------------------ life cycle
    async def start(self) -> None:
        self._stopping.clear()
        if self._nats_url:
            self._nats = NatsBus(
                self._nats_url,
                f"consumer-{self.spec.name}",
                retention_days=self._retention_days,
            )
            self._tasks.append(asyncio.create_task(self._pull(self._nats), name=self.spec.name))
        else:
            bus = self._bus or in_process_bus()
            if not isinstance(bus, InProcessBus):
                raise TypeError("without a NATS URL the consumer needs the in-process bus")
            for topic in self.spec.topics:
                self._unsubscribe.append(bus.subscribe(topic, self._enqueue))
            self._tasks.append(asyncio.create_task(self._work(), name=self.spec.name))
        self._replays.start()
        self._pruning.start()

    async def stop(self) -> None:
        """Lets the event in hand finish (it is then committed and acknowledged), then
        returns; with NATS, fetched events not yet begun go back to the server."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        self._stopping.set()
        self._queued.set()
        await self._replays.stop()
        await self._pruning.stop()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._nats is not None:
            # Not drained: nothing is in hand any more, and draining would wait for the
            # pull subscription's open request to expire.
            if self._subscription is not None:
                await self._subscription.unsubscribe()
            if self._nats.nats is not None:
                await self._nats.nats.close()
            self._nats = self._subscription = None

    # ------------------------------------------------------------------ one event
    async def process(self, event: Event, deliveries: int, *, final: bool = False) -> _Outcome:
        """Handle `event` (delivery number `deliveries`) once: what happened."""
        if event.topic not in self.spec.topics:
            return _DONE
        if self.spec.validate is not None:
            try:
                self.spec.validate(event)
            except Exception as error:
                return _Outcome(dead=f"invalid event: {error}")
        try:
            async with self._db.transaction() as session:
                claimed = await session.scalar(
                    insert(self._processed)
                    .values(consumer=self.spec.name, event_id=event.id, topic=event.topic)
                    .on_conflict_do_nothing()
                    .returning(self._processed.c.event_id)
                )
                if claimed is None:
                    return _DONE  # processed before: a redelivery or a duplicate publish
                await self.spec.handle(session, event)
        except PermanentEventError as error:
            return _Outcome(dead=f"permanent error: {error}")
        except Exception as error:
            reason = f"{type(error).__name__}: {error}"
            if final or deliveries >= self.spec.max_deliveries:
                return _Outcome(dead=f"gave up after {deliveries} deliveries: {reason}")
            delay = self.spec.delay(deliveries)
            log.warning(
                "event handler failed; will retry",
                consumer=self.spec.name,
                topic=event.topic,
                event_id=event.id,
                deliveries=deliveries,
                retry_in=delay,
                error=reason,
            )
            return _Outcome(retry_in=delay)
        return _DONE

    async def _dead_letter(self, event: Event, reason: str, deliveries: int) -> None:
        """Keep the dead letter; raises when it could not be kept (the event stays)."""
        async with self._db.transaction() as session:
            letter_id = await dead_letters.record(
                session, self._dead, self.spec.name, event, reason, deliveries
            )
        log.error(
            "event dead-lettered",
            consumer=self.spec.name,
            topic=event.topic,
            event_id=event.id,
            dead_letter=letter_id,
            deliveries=deliveries,
            reason=reason,
        )
        if self._nats is None:
            return
        headers = {
            "Coursegraph-Consumer": self.spec.name,
            "Coursegraph-Event-Id": event.id,
            "Coursegraph-Topic": event.topic,
            "Coursegraph-Deliveries": str(deliveries),
            "Coursegraph-Reason": reason[:1000].replace("\r", " ").replace("\n", " "),
            "Nats-Msg-Id": f"dlq:{self.spec.name}:{letter_id}:{deliveries}",
        }
        try:
            await self._nats.publish_raw(
                f"{dead_letters.DLQ_SUBJECT_PREFIX}{self.spec.name}", encode(event), headers
            )
        except Exception as error:  # the table holds it; the stream copy is for watchers
            log.warning("dead letter not published", dead_letter=letter_id, error=str(error))

    # ------------------------------------------------------------------ replays
    async def replay_requested(self) -> int:
        """One pass over the dead letters `coursegraph events replay` asked for."""
        async with self._db.transaction() as session:
            letters = await dead_letters.due_for_replay(
                session, self._dead, self.spec.name, REPLAY_BATCH
            )
            for letter in letters:
                outcome = await self.process(letter.event, letter.deliveries + 1, final=True)
                if outcome.dead is None:
                    await session.execute(delete(self._dead).where(self._dead.c.id == letter.id))
                    log.info("dead letter replayed", consumer=self.spec.name, id=letter.id)
                else:
                    await dead_letters.record(
                        session, self._dead, self.spec.name, letter.event, outcome.dead, 1
                    )
        return len(letters)

    async def prune_processed(self, *, now: datetime | None = None) -> int:
        """Forgets one batch of this consumer's rows older than twice the retention."""
        cutoff = (now or datetime.now(UTC)) - timedelta(days=2 * self._retention_days)
        table = self._processed
        oldest = (
            select(table.c.consumer, table.c.event_id)
            .where(table.c.consumer == self.spec.name, table.c.processed_at < cutoff)
            .limit(PRUNE_BATCH)
        )
        async with self._db.transaction() as session:
            result = await session.execute(
                delete(table).where(tuple_(table.c.consumer, table.c.event_id).in_(oldest))
            )
        pruned: int = result.rowcount  # type: ignore[attr-defined]
        if pruned:
            log.info("processed events pruned", consumer=self.spec.name, rows=pruned)
        return pruned

    # ------------------------------------------------------------------ NATS
    async def _bind(self, nats: NatsBus) -> Any:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        jetstream = await nats.jetstream()
        subjects = [subject(topic) for topic in self.spec.topics]
        # Several filter subjects need NATS 2.10; an older server gets one filter (all
        # events when several topics) and the consumer skips other topics itself.
        several = nats.nats.connected_server_version.minor >= 10 or (
            nats.nats.connected_server_version.major > 2
        )
        config = ConsumerConfig(
            durable_name=self.spec.name,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=ACK_WAIT_SECONDS,
            max_deliver=self.spec.max_deliveries + NATS_DELIVERY_MARGIN,
            max_ack_pending=1000,
        )
        if len(subjects) == 1:
            config.filter_subject = subjects[0]
        elif several:
            config.filter_subjects = subjects
        else:
            config.filter_subject = subject(">")
        # Creates the durable, or updates it (topics added since) if it exists.
        await jetstream.add_consumer(STREAM, config=config)
        return await jetstream.pull_subscribe_bind(durable=self.spec.name, stream=STREAM)

    async def _pull(self, bus: NatsBus) -> None:
        import nats.errors

        while self._subscription is None and not self._stopping.is_set():
            try:
                self._subscription = await self._bind(bus)
            except Exception as error:  # NATS down at start: the consumer waits for it
                log.warning("consumer not bound yet", consumer=self.spec.name, error=str(error))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=FETCH_WAIT_SECONDS * 2)
        subscription = self._subscription
        while not self._stopping.is_set():
            try:
                messages = await subscription.fetch(FETCH_BATCH, timeout=FETCH_WAIT_SECONDS)
            except nats.errors.TimeoutError:
                continue
            except Exception:
                log.exception("fetching events failed", consumer=self.spec.name)
                await asyncio.sleep(FETCH_WAIT_SECONDS)
                continue
            for message in messages:
                await self._on_message(message)

    async def _on_message(self, message: Any) -> None:
        metadata = message.metadata
        if message.subject not in {subject(t) for t in self.spec.topics}:
            await message.ack()  # another topic, on a server without several filters
            return
        try:
            event = decode_nats_message(message.data, received_at=metadata.timestamp)
        except Exception as error:
            event = Event(
                id=f"stream:{metadata.sequence.stream}",
                topic=message.subject.removeprefix(subject("")),
                payload={"undecodable": message.data.decode(errors="replace")[:10_000]},
                occurred_at=metadata.timestamp,
            )
            outcome = _Outcome(dead=f"undecodable message: {error}")
        else:
            outcome = await self.process(event, metadata.num_delivered)
        if outcome.dead is not None:
            try:
                await self._dead_letter(event, outcome.dead, metadata.num_delivered)
            except Exception:
                log.exception("dead letter not kept; the event stays", event_id=event.id)
                await message.nak(delay=self.spec.backoff_seconds[-1])
                return
        elif outcome.retry_in is not None:
            await message.nak(delay=outcome.retry_in)
            return
        await message.ack()

    # ------------------------------------------------------------------ in-process
    async def _enqueue(self, event: Event) -> None:
        heapq.heappush(self._queue, (time.monotonic(), next(self._order), 0, event))
        self._queued.set()

    async def _work(self) -> None:
        while not self._stopping.is_set():
            if not self._queue or self._queue[0][0] > time.monotonic():
                wait = self._queue[0][0] - time.monotonic() if self._queue else None
                self._queued.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._queued.wait(), timeout=wait)
                continue
            _, _, delivered, event = heapq.heappop(self._queue)
            deliveries = delivered + 1
            try:
                outcome = await self.process(event, deliveries)
                if outcome.dead is not None:
                    await self._dead_letter(event, outcome.dead, deliveries)
            except Exception:
                log.exception("dead letter not kept; retrying", event_id=event.id)
                outcome = _Outcome(retry_in=self.spec.backoff_seconds[-1])
            if outcome.retry_in is not None:
                due = time.monotonic() + outcome.retry_in
                heapq.heappush(self._queue, (due, next(self._order), deliveries, event))
