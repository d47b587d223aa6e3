"""The response cache's event subscription against NATS itself (the rest of the cache:
tests/unit/test_response_cache.py, and the real stack: tests/e2e/test_response_cache.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import nats

from coursegraph.events import Event, encode, subject
from router.config import ResponseCacheConfig
from router.edge.cache import ResponseCache
from router.edge.cache_store import MemoryStore
from router.types import JSONObject
from tests.router.conftest import closed_port
from tests.unit.test_response_cache import Subgraph

QUERY: JSONObject = {"query": "{ courses { title } }"}


async def _until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "not reached in time"
        await asyncio.sleep(0.02)


async def test_without_a_reachable_bus_nothing_is_cached() -> None:
    cache = ResponseCache(
        ResponseCacheConfig(enabled=True), MemoryStore(10), f"nats://127.0.0.1:{closed_port()}"
    )
    await cache.start()
    try:
        await asyncio.sleep(0.2)
        courses = Subgraph("courses")
        for _ in range(2):
            await cache.fetch(courses, QUERY, {}, True)  # type: ignore[arg-type]
        assert len(courses.sent) == 2
        assert not cache.counts
    finally:
        await cache.close()


async def test_an_event_on_the_bus_drops_what_it_names(nats_url: str) -> None:
    cache = ResponseCache(ResponseCacheConfig(enabled=True), MemoryStore(10), nats_url)
    await cache.start()
    publisher = await nats.connect(nats_url)
    try:
        await _until(lambda: cache.listening)
        courses = Subgraph("courses")  # its answers are tagged "Course"
        await cache.fetch(courses, QUERY, {}, True)  # type: ignore[arg-type]
        await cache.fetch(courses, QUERY, {}, True)  # type: ignore[arg-type]
        assert len(courses.sent) == 1

        event = Event(id="e1", topic="course.updated", payload={}, entities=("Course:1",))
        await publisher.publish(subject(event.topic), encode(event))
        await _until(lambda: cache.events == 1)

        await cache.fetch(courses, QUERY, {}, True)  # type: ignore[arg-type]
        assert len(courses.sent) == 2
        assert cache.invalidated == 1
    finally:
        await publisher.close()
        await cache.close()
