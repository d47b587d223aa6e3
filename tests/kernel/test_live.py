"""The live-event feed on the in-process bus: dispatch by key, bounded queues that drop
the oldest event, clean unsubscribes, and state-based values sent only on a change."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest

from coursegraph.events import Event, in_process_bus
from coursegraph.live import LiveFeed, watch_state


def _event(topic: str, **payload: object) -> Event:
    return Event(id=str(uuid.uuid4()), topic=topic, payload=dict(payload))


@contextlib.asynccontextmanager
async def _feed(queue_size: int = 16) -> AsyncIterator[LiveFeed]:
    feed = LiveFeed({"thing.changed": "thingId"}, nats_url=None, queue_size=queue_size)
    await feed.start()
    try:
        yield feed
    finally:
        await feed.stop()


async def test_events_reach_only_the_subscribers_of_their_key() -> None:
    bus = in_process_bus()
    async with _feed() as feed, feed.subscribe("a") as mine, feed.subscribe("b") as theirs:
        assert feed.subscriber_count == 2
        await bus.publish(_event("thing.changed", thingId="a", n=1))
        await bus.publish(_event("other.topic", thingId="a"))  # not a topic of the feed
        await bus.publish(_event("thing.changed", thingId=7))  # not a key
        got = await asyncio.wait_for(anext(aiter(mine)), 1)
        assert got.payload["n"] == 1
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(aiter(theirs)), 0.2)
    assert feed.subscriber_count == 0


async def test_a_slow_subscriber_loses_the_oldest_events_only() -> None:
    bus = in_process_bus()
    async with _feed(queue_size=2) as feed, feed.subscribe("a") as slow:
        for n in range(5):
            await bus.publish(_event("thing.changed", thingId="a", n=n))
        events = aiter(slow)
        assert [(await anext(events)).payload["n"] for _ in range(2)] == [3, 4]
        assert slow.dropped == 3


async def test_watch_state_sends_the_state_then_only_changes() -> None:
    bus = in_process_bus()
    state = {"status": "PENDING"}

    async def load() -> dict[str, str]:
        return dict(state)

    async with _feed() as feed:
        values = watch_state(feed, "a", load, lambda s: s["status"])
        assert await anext(values) == {"status": "PENDING"}
        assert feed.subscriber_count == 1
        await bus.publish(_event("thing.changed", thingId="a"))  # nothing changed
        state["status"] = "SUCCEEDED"
        await bus.publish(_event("thing.changed", thingId="a"))
        assert await asyncio.wait_for(anext(values), 1) == {"status": "SUCCEEDED"}
        await values.aclose()  # the client went away
        assert feed.subscriber_count == 0
