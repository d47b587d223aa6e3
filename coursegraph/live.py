"""The live-event feed behind GraphQL subscriptions: one per subgraph process.

It listens to the bus for the topics its subgraph names and hands each event to the
subscriptions waiting on that event's key (a payload field: the payment id, the lecture
id, the user id). Unlike the durable consumers of `coursegraph.consumers`, which share
work between the instances of a service, every instance must see every event here: the
subscriber may hold its socket on any of them. So with NATS it is a plain core
subscription on `coursegraph.<topic>` (JetStream's publishes reach core subscribers too),
nothing durable: an event that arrives while an instance is disconnected from NATS is not
replayed to it. Without NATS it subscribes to the process's in-process bus.

Subscriptions are state-based: an event only says "look again", and the resolver re-reads
the object (`watch_state`). So each subscriber's queue is bounded and, when a slow
subscriber lets it fill, the OLDEST event is dropped: the newer ones still make it re-read
the same current state, so nothing a client would see is lost, and memory stays bounded.
Leaving the `async with` (the client completed, disconnected, or the socket closed)
removes the subscriber at once; nothing stays behind.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Hashable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from coursegraph.context import RequestContext
from coursegraph.events import (
    CONNECT_TIMEOUT_SECONDS,
    Event,
    decode_nats_message,
    in_process_bus,
    subject,
)
from coursegraph.log import get_logger

log = get_logger("coursegraph.live")

# Events one subscriber may have waiting; beyond, the oldest is dropped (see above).
QUEUE_SIZE = 16
RECONNECT_WAIT_SECONDS = 2.0

T = TypeVar("T")
U = TypeVar("U")


class LiveSubscription:
    """The events for one key, for one subscriber, in arrival order."""

    def __init__(self, size: int) -> None:
        self._queue: asyncio.Queue[Event] = asyncio.Queue(size)
        self.dropped = 0

    def offer(self, event: Event) -> None:
        """Never blocks and never fails: a full queue loses its oldest event."""
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events()

    async def _events(self) -> AsyncIterator[Event]:
        while True:
            yield await self._queue.get()


class LiveFeed:
    """`keys`: topic → the payload field that names the key subscribers wait on."""

    def __init__(
        self,
        keys: Mapping[str, str],
        *,
        nats_url: str | None,
        name: str = "coursegraph-live",
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        if not keys:
            raise ValueError("a live feed needs at least one topic")
        self._keys = dict(keys)
        self._nats_url = nats_url
        self._name = name
        self._queue_size = queue_size
        self._waiting: dict[str, set[LiveSubscription]] = defaultdict(set)
        self._unsubscribe: list[Callable[[], None]] = []
        self._nats: Any = None
        self._connecting: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def subscriber_count(self) -> int:
        return sum(len(subscribers) for subscribers in self._waiting.values())

    # ------------------------------------------------------------------ life cycle
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._nats_url is None:
            bus = in_process_bus()
            for topic in self._keys:
                self._unsubscribe.append(bus.subscribe(topic, self._deliver))
            return
        # NATS down at start-up stops nothing: the feed keeps trying in the background.
        self._connecting = asyncio.create_task(self._connect(self._nats_url), name=self._name)

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
            self._connecting = None
        if self._nats is not None:
            with contextlib.suppress(Exception):
                await self._nats.close()
            self._nats = None

    async def _connect(self, url: str) -> None:
        import nats

        while True:
            try:
                client = await nats.connect(
                    url,
                    name=self._name,
                    connect_timeout=CONNECT_TIMEOUT_SECONDS,
                    # Core subscriptions are renewed by the client after each reconnect.
                    max_reconnect_attempts=-1,
                )
            except Exception as error:
                log.warning("live feed: NATS unreachable; retrying", url=url, error=str(error))
                await asyncio.sleep(RECONNECT_WAIT_SECONDS)
                continue
            for topic in self._keys:
                await client.subscribe(subject(topic), cb=self._on_message)
            await client.flush()
            self._nats = client
            return

    @property
    def listening(self) -> bool:
        """Whether events reach the feed yet (NATS connects in the background)."""
        return self._loop is not None and (self._nats_url is None or self._nats is not None)

    async def _on_message(self, message: Any) -> None:
        try:
            event = decode_nats_message(message.data)
        except Exception as error:  # not ours to repair: the durable consumers see it too
            log.warning("live feed: undecodable event skipped", error=str(error))
            return
        await self._deliver(event)

    # ------------------------------------------------------------------ delivery
    async def _deliver(self, event: Event) -> None:
        """Hands the event to its key's subscribers; never raises (the in-process bus
        would fail the producer's publish)."""
        loop = self._loop
        if loop is not None and loop is not asyncio.get_running_loop():
            # The in-process bus of a process serving several apps, each on its own event
            # loop (tests): queues belong to this feed's loop.
            loop.call_soon_threadsafe(self._dispatch, event)
            return
        self._dispatch(event)

    def _dispatch(self, event: Event) -> None:
        field = self._keys.get(event.topic)
        value = event.payload.get(field) if field is not None else None
        if not isinstance(value, str):
            return
        for subscription in tuple(self._waiting.get(value, ())):
            subscription.offer(event)

    @asynccontextmanager
    async def subscribe(self, key: str) -> AsyncIterator[LiveSubscription]:
        """Events whose key field is `key`, from now until the block is left."""
        subscription = LiveSubscription(self._queue_size)
        self._waiting[key].add(subscription)
        try:
            yield subscription
        finally:
            waiting = self._waiting.get(key)
            if waiting is not None:
                waiting.discard(subscription)
                if not waiting:
                    del self._waiting[key]


async def watch_state(
    feed: LiveFeed,
    key: str,
    load: Callable[[], Awaitable[T]],
    fingerprint: Callable[[T], Hashable],
) -> AsyncGenerator[T, None]:
    """The object's current state, then its state again after each event for `key` — but
    only when it differs from the last one sent (duplicate publishes, events that changed
    nothing a client sees). Subscribed before the first read, so no change falls between.
    """
    async with feed.subscribe(key) as events:
        current = await load()
        last = fingerprint(current)
        yield current
        async for _ in events:
            current = await load()
            seen = fingerprint(current)
            if seen != last:
                last = seen
                yield current


async def each_resolved(
    context: RequestContext[Any, Any], values: AsyncIterator[T], to_graphql: Callable[[T], U]
) -> AsyncGenerator[U, None]:
    """A subscription's values as its GraphQL type, each resolved with fresh DataLoaders
    (the connection's one context outlives every event). Closing it closes `values`."""
    async with contextlib.aclosing(values):  # type: ignore[type-var]
        async for value in values:
            context.renew_loaders()
            yield to_graphql(value)
