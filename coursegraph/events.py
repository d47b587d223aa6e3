"""Domain-event buses: in-process by default, NATS JetStream when `NATS_URL` is set.

Events reach the bus only through the outbox relay, after their transaction committed.
Every event carries its id; consumers de-duplicate on it (JetStream also does, by
`Nats-Msg-Id`, inside its duplicate window).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from coursegraph.log import get_logger

log = get_logger("coursegraph.events")

STREAM = "COURSEGRAPH"
SUBJECT_PREFIX = "coursegraph."


@dataclass(frozen=True)
class Event:
    id: str
    topic: str  # e.g. "payment.succeeded"
    payload: dict[str, Any]


Subscriber = Callable[[Event], Awaitable[None]]


class EventBus(Protocol):
    async def publish(self, event: Event) -> None: ...

    async def close(self) -> None: ...


class InProcessBus:
    """Delivers to subscribers of this process; a failing subscriber fails the publish,
    so the outbox retries it (subscribers are idempotent by event id)."""

    def __init__(self) -> None:
        self._subscribers: dict[str, list[Subscriber]] = defaultdict(list)

    def subscribe(self, topic: str, subscriber: Subscriber) -> None:
        self._subscribers[topic].append(subscriber)

    async def publish(self, event: Event) -> None:
        for subscriber in self._subscribers.get(event.topic, ()):
            await subscriber(event)

    async def close(self) -> None:
        self._subscribers.clear()


class NatsBus:
    """Publishes to a JetStream stream `COURSEGRAPH` on subjects `coursegraph.<topic>`."""

    def __init__(self, nats: Any, jetstream: Any) -> None:
        self._nats = nats
        self._js = jetstream

    @classmethod
    async def connect(cls, url: str) -> NatsBus:
        import nats
        from nats.js.errors import NotFoundError

        client = await nats.connect(url, name="coursegraph")
        jetstream = client.jetstream()
        try:
            await jetstream.stream_info(STREAM)
        except NotFoundError:
            await jetstream.add_stream(name=STREAM, subjects=[f"{SUBJECT_PREFIX}>"])
        return cls(client, jetstream)

    async def publish(self, event: Event) -> None:
        body = orjson.dumps({"id": event.id, "topic": event.topic, "payload": event.payload})
        await self._js.publish(
            f"{SUBJECT_PREFIX}{event.topic}", body, headers={"Nats-Msg-Id": event.id}
        )

    async def close(self) -> None:
        await self._nats.drain()


def decode_nats_message(data: bytes) -> Event:
    raw = orjson.loads(data)
    return Event(id=raw["id"], topic=raw["topic"], payload=raw["payload"])


async def connect_bus(nats_url: str | None) -> EventBus:
    if nats_url:
        return await NatsBus.connect(nats_url)
    return InProcessBus()
