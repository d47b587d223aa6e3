"""Where the response cache keeps its entries: in-process (bounded LRU with TTL) or Redis
(shared by every router instance). Entries are opaque bytes under a key, with a time to
live and the tags the invalidation drops them by."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import RedisError

log = logging.getLogger("router")


@dataclass(frozen=True, slots=True)
class Put:
    key: str
    value: bytes
    ttl_seconds: float
    tags: tuple[str, ...]


class CacheStore(Protocol):
    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]: ...

    async def put_many(self, puts: Sequence[Put]) -> None: ...

    async def invalidate(self, tags: Iterable[str]) -> int:
        """Drop every entry carrying one of `tags`; how many were dropped."""
        ...

    async def clear(self) -> None: ...

    async def close(self) -> None: ...


class MemoryStore:
    """Least recently used dropped past `size` entries or `max_bytes` of values (clients
    choose variables, so the number of distinct answers is theirs); expired ones when met."""

    def __init__(self, size: int, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._size = size
        self._max_bytes = max_bytes
        self.bytes = 0
        # key → (expires at, monotonic; value; tags)
        self._items: OrderedDict[str, tuple[float, bytes, tuple[str, ...]]] = OrderedDict()
        self._tagged: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self._items)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        now = time.monotonic()
        out: list[bytes | None] = []
        for key in keys:
            item = self._items.get(key)
            if item is None:
                out.append(None)
            elif item[0] <= now:
                self._drop(key)
                out.append(None)
            else:
                self._items.move_to_end(key)
                out.append(item[1])
        return out

    async def put_many(self, puts: Sequence[Put]) -> None:
        now = time.monotonic()
        for put in puts:
            if put.key in self._items:
                self._drop(put.key)
            self._items[put.key] = (now + put.ttl_seconds, put.value, put.tags)
            self.bytes += len(put.value)
            for tag in put.tags:
                self._tagged.setdefault(tag, set()).add(put.key)
        while self._items and (len(self._items) > self._size or self.bytes > self._max_bytes):
            self._drop(next(iter(self._items)))

    async def invalidate(self, tags: Iterable[str]) -> int:
        dropped = 0
        for tag in tags:
            for key in self._tagged.pop(tag, ()):
                dropped += self._drop(key)
        return dropped

    def _drop(self, key: str) -> int:
        item = self._items.pop(key, None)
        if item is None:
            return 0
        self.bytes -= len(item[1])
        for tag in item[2]:
            keys = self._tagged.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._tagged[tag]
        return 1

    async def clear(self) -> None:
        self._items.clear()
        self._tagged.clear()
        self.bytes = 0

    async def close(self) -> None:
        return None


class RedisStore:
    """Entries as `<prefix>e:<key>` with a TTL; each tag a set `<prefix>t:<tag>` of entry
    keys, living as long as the longest entry it may name. Redis being down turns the
    cache into misses (requests go to the subgraphs), never into failed requests."""

    def __init__(self, redis: Any, prefix: str, max_ttl_seconds: float) -> None:
        self._redis = redis
        self._prefix = prefix
        self._tag_ttl_ms = int(max_ttl_seconds * 1000) + 1000

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        try:
            values = await self._redis.mget([f"{self._prefix}e:{key}" for key in keys])
        except RedisError as exc:
            log.warning("response cache store unavailable: %s", exc)
            return [None] * len(keys)
        return [v if isinstance(v, bytes) or v is None else bytes(v) for v in values]

    async def put_many(self, puts: Sequence[Put]) -> None:
        if not puts:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for put in puts:
                    entry = f"{self._prefix}e:{put.key}"
                    pipe.set(entry, put.value, px=max(1, int(put.ttl_seconds * 1000)))
                    for tag in put.tags:
                        tagged = f"{self._prefix}t:{tag}"
                        pipe.sadd(tagged, entry)
                        pipe.pexpire(tagged, self._tag_ttl_ms)
                await pipe.execute()
        except RedisError as exc:
            log.warning("response cache store unavailable: %s", exc)

    async def invalidate(self, tags: Iterable[str]) -> int:
        names = [f"{self._prefix}t:{tag}" for tag in tags]
        if not names:
            return 0
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                for name in names:
                    pipe.smembers(name)
                pipe.delete(*names)
                results = await pipe.execute()
            entries = {e for members in results[:-1] for e in members}
            if not entries:
                return 0
            return int(await self._redis.delete(*entries))
        except RedisError as exc:
            # Nothing else can be done here: the entries expire by their TTL.
            log.error("response cache invalidation failed: %s", exc)
            return 0

    async def clear(self) -> None:
        try:
            batch: list[bytes] = []
            async for key in self._redis.scan_iter(match=f"{self._prefix}*", count=500):
                batch.append(key)
                if len(batch) >= 500:
                    await self._redis.delete(*batch)
                    batch = []
            if batch:
                await self._redis.delete(*batch)
        except RedisError as exc:
            log.error("response cache clear failed: %s", exc)

    async def close(self) -> None:
        await self._redis.aclose()
