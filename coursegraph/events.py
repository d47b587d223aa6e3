"""Domain-event buses: in-process by default, NATS JetStream when `NATS_URL` is set.

Events reach the bus only through the outbox relay, after their transaction committed.
Every event carries its id; consumers de-duplicate on it (JetStream also does, by
`Nats-Msg-Id`, inside its duplicate window). Durable consumers: `coursegraph.consumers`.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

import orjson

from coursegraph.log import get_logger
from coursegraph.settings import DEFAULT_RETENTION_DAYS, Settings

log = get_logger("coursegraph.events")

STREAM = "COURSEGRAPH"
SUBJECT_PREFIX = "coursegraph."
CONNECT_TIMEOUT_SECONDS = 5
DAY_SECONDS = 86_400


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Event:
    """The envelope: what every event carries whatever its topic."""

    id: str
    topic: str  # e.g. "payment.succeeded"
    payload: dict[str, Any]
    version: int = 1  # of the topic's payload contract (docs/events.md)
    occurred_at: datetime = field(default_factory=_now)
    # What the event changed, as "Type:id" (e.g. "Course:<uuid>"): read by the router's
    # response cache, which drops what it holds of them without knowing any topic.
    entities: tuple[str, ...] = ()


class Announcement(Protocol):
    """What producers hand to `outbox.add`: a declared, validated payload
    (`contracts.events.EventPayload`), so no producer can write an undeclared shape."""

    TOPIC: ClassVar[str]
    VERSION: ClassVar[int]

    def event_payload(self) -> dict[str, Any]: ...


Subscriber = Callable[[Event], Awaitable[None]]


def subject(topic: str) -> str:
    return f"{SUBJECT_PREFIX}{topic}"


def encode(event: Event) -> bytes:
    return orjson.dumps(
        {
            "id": event.id,
            "topic": event.topic,
            "version": event.version,
            "occurredAt": event.occurred_at.isoformat(),
            "payload": event.payload,
            "entities": list(event.entities),
        }
    )


def decode_nats_message(data: bytes, *, received_at: datetime | None = None) -> Event:
    """An envelope from the stream; messages written before versions existed are version 1
    and, lacking `occurredAt`, date from when the stream stored them (`received_at`)."""
    raw = orjson.loads(data)
    occurred = raw.get("occurredAt")
    return Event(
        id=raw["id"],
        topic=raw["topic"],
        payload=raw["payload"],
        version=int(raw.get("version", 1)),
        occurred_at=datetime.fromisoformat(occurred) if occurred else received_at or _now(),
        entities=tuple(str(e) for e in raw.get("entities") or ()),
    )


class EventBus(Protocol):
    async def publish(self, event: Event) -> None: ...

    async def close(self) -> None: ...


class InProcessBus:
    """Delivers to subscribers of this process; a failing subscriber fails the publish,
    so the outbox retries it (subscribers are idempotent by event id). Durable consumers
    subscribe with a hand-off that never fails (their retries are their own)."""

    def __init__(self) -> None:
        self._subscribers: dict[str, list[Subscriber]] = defaultdict(list)

    def subscribe(self, topic: str, subscriber: Subscriber) -> Callable[[], None]:
        """Returns the unsubscribe."""
        self._subscribers[topic].append(subscriber)
        return lambda: self._subscribers[topic].remove(subscriber)

    async def publish(self, event: Event) -> None:
        for subscriber in tuple(self._subscribers.get(event.topic, ())):
            await subscriber(event)

    async def close(self) -> None:
        """Nothing to release: the bus is shared by the process (`connect_bus`), and each
        subscriber leaves through the unsubscribe `subscribe` returned."""


class NatsBus:
    """Publishes to a JetStream stream `COURSEGRAPH` on subjects `coursegraph.<topic>`.

    NATS being down never stops a service: the bus connects when it is first needed and
    again after the client gave up, and a publish that fails raises, so the outbox keeps
    the event and the relay tries again later.
    """

    def __init__(self, url: str, name: str, *, retention_days: int | None = None) -> None:
        """`retention_days` is the operator's setting, applied to the stream (created or
        updated); without it a missing stream gets the default and an existing one is
        left as it is (a consumer must not undo what the publishers were told)."""
        self._url = url
        self._name = name
        self._retention_days = retention_days
        self.nats: Any = None
        self._jetstream: Any = None
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(
        cls, url: str, *, name: str = "coursegraph", retention_days: int | None = None
    ) -> NatsBus:
        bus = cls(url, name, retention_days=retention_days)
        try:
            await bus.jetstream()
        except Exception as error:
            log.warning("NATS unreachable; events wait in the outboxes", url=url, error=str(error))
        return bus

    async def jetstream(self) -> Any:
        """The JetStream context, connecting (and creating the stream) if need be."""
        async with self._lock:
            if self.nats is None or self.nats.is_closed:
                import nats
                from nats.js.errors import NotFoundError

                client = await nats.connect(
                    self._url,
                    name=self._name,
                    connect_timeout=CONNECT_TIMEOUT_SECONDS,
                    # Reconnects for as long as the process lives; publishes meanwhile fail
                    # (their events stay in the outbox).
                    max_reconnect_attempts=-1,
                )
                jetstream = client.jetstream(timeout=CONNECT_TIMEOUT_SECONDS)
                try:
                    await self._ensure_stream(jetstream, NotFoundError)
                except Exception:
                    await client.close()
                    raise
                self.nats, self._jetstream = client, jetstream
            return self._jetstream

    async def _ensure_stream(self, jetstream: Any, not_found: type[Exception]) -> None:
        days = self._retention_days or DEFAULT_RETENTION_DAYS
        try:
            info = await jetstream.stream_info(STREAM)
        except not_found:
            await jetstream.add_stream(
                name=STREAM, subjects=[f"{SUBJECT_PREFIX}>"], max_age=days * DAY_SECONDS
            )
            return
        if self._retention_days is not None and info.config.max_age != days * DAY_SECONDS:
            info.config.max_age = days * DAY_SECONDS
            await jetstream.update_stream(info.config)
            log.info("event stream retention set", stream=STREAM, days=days)

    async def publish(self, event: Event) -> None:
        await self.publish_raw(subject(event.topic), encode(event), {"Nats-Msg-Id": event.id})

    async def publish_raw(self, to: str, body: bytes, headers: dict[str, str]) -> None:
        jetstream = await self.jetstream()
        await jetstream.publish(to, body, headers=headers)

    async def close(self) -> None:
        if self.nats is None or self.nats.is_closed:
            return
        try:
            await self.nats.drain()  # sends what is buffered
        except Exception:  # NATS is gone (reconnecting): nothing can be sent anyway
            await self.nats.close()


# One per process: subgraphs served by one process reach each other's consumers.
_IN_PROCESS = InProcessBus()


def in_process_bus() -> InProcessBus:
    return _IN_PROCESS


async def connect_bus(settings: Settings) -> EventBus:
    """The bus the settings name: JetStream with NATS_URL, else the in-process bus."""
    if settings.nats_url:
        return await NatsBus.connect(
            settings.nats_url, retention_days=settings.events_retention_days
        )
    return _IN_PROCESS
