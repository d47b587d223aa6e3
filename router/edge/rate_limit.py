"""Rate limiting: token buckets per client, per client and cost class, and stricter ones
for sensitive root fields (`login`, `register`).

The client is the verified user id from the token's claims, else the client address (the
socket peer, or behind `headers.trusted_proxies` the address they saw). Each request takes
one token from each bucket that applies, all or none, so a refused request does not drain
the other buckets. The cost class is the highest configured class whose `min_cost` the
operation's static cost estimate (limits.py) reaches.

Buckets live in this process (`memory`), or in Redis (`redis`) so several router instances
share one budget: one Lua script reads, refills and takes from every bucket of a request
atomically, with Redis's clock, so instances with skewed clocks agree.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import RedisError

from router.config import BucketConfig, RateLimitConfig
from router.prepared import PreparedOperation
from router.stage import EdgeRefusal, Exchange, Stage

log = logging.getLogger("router")
# Buckets kept in memory before full (idle) ones are dropped.
_MEMORY_BUCKETS = 100_000


@dataclass(frozen=True, slots=True)
class Bucket:
    key: str
    capacity: int
    refill_per_second: float


class BucketStore(Protocol):
    async def take(self, buckets: list[Bucket]) -> float:
        """Take one token from every bucket, or none; 0 when taken, else the seconds until
        all of them hold a token again."""

    async def close(self) -> None: ...


class MemoryBuckets:
    def __init__(self) -> None:
        # key -> (tokens, monotonic time of that count)
        self._state: dict[str, tuple[float, float]] = {}

    async def take(self, buckets: list[Bucket]) -> float:
        now = time.monotonic()
        state = self._state
        levels: list[float] = []
        wait = 0.0
        for bucket in buckets:
            tokens, at = state.get(bucket.key, (bucket.capacity, now))
            tokens = min(bucket.capacity, tokens + (now - at) * bucket.refill_per_second)
            levels.append(tokens)
            if tokens < 1:
                wait = max(wait, (1 - tokens) / bucket.refill_per_second)
        taken = 0 if wait else 1
        for bucket, tokens in zip(buckets, levels, strict=True):
            state[bucket.key] = (tokens - taken, now)
        if len(state) > _MEMORY_BUCKETS:
            self._forget_full(now, buckets)
        return wait

    def _forget_full(self, now: float, current: list[Bucket]) -> None:
        """Drop buckets that have refilled to at least one token: forgetting them only
        gives that client a full bucket slightly early."""
        rate = min(b.refill_per_second for b in current)
        stale = [k for k, (tokens, at) in self._state.items() if tokens + (now - at) * rate >= 1]
        for key in stale:
            del self._state[key]

    async def close(self) -> None:
        return None


# KEYS: one per bucket. ARGV: capacity and refill rate per bucket, in KEYS order.
# Returns {1, "0"} when taken, {0, "<seconds to wait>"} when refused.
TAKE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local levels = {}
local wait = 0
for i, key in ipairs(KEYS) do
  local capacity = tonumber(ARGV[2 * i - 1])
  local rate = tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(state[1]) or capacity
  local ts = tonumber(state[2]) or now
  tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
  levels[i] = tokens
  if tokens < 1 then
    wait = math.max(wait, (1 - tokens) / rate)
  end
end
local taken = 1
if wait > 0 then taken = 0 end
for i, key in ipairs(KEYS) do
  local capacity = tonumber(ARGV[2 * i - 1])
  local rate = tonumber(ARGV[2 * i])
  redis.call('HSET', key, 'tokens', tostring(levels[i] - taken), 'ts', tostring(now))
  redis.call('PEXPIRE', key, math.ceil(capacity / rate * 1000) + 1000)
end
return {taken, tostring(wait)}
"""


class RedisBuckets:
    def __init__(self, redis: Any) -> None:
        self._redis = redis
        self._script = redis.register_script(TAKE_SCRIPT)

    async def take(self, buckets: list[Bucket]) -> float:
        args: list[float] = []
        for bucket in buckets:
            args.extend((bucket.capacity, bucket.refill_per_second))
        taken, wait = await self._script(keys=[b.key for b in buckets], args=args)
        return 0.0 if int(taken) else float(wait)

    async def close(self) -> None:
        await self._redis.aclose()


class RateLimit(Stage):
    def __init__(self, config: RateLimitConfig, store: BucketStore) -> None:
        self.config = config
        self.store = store
        self.prefix = config.key_prefix
        self.sensitive = frozenset(config.sensitive_fields)
        # Highest threshold first: the first class the cost reaches is the operation's.
        self.classes = sorted(
            config.cost_classes.items(), key=lambda item: item[1].min_cost, reverse=True
        )

    def client_key(self, exchange: Exchange) -> str:
        if exchange.viewer is not None:
            return f"user:{exchange.viewer.id}"
        address = exchange.client_address or "unknown"
        return f"addr:{address}"

    async def on_operation(
        self, exchange: Exchange, prepared: PreparedOperation, cost: int
    ) -> None:
        client = self.client_key(exchange)
        prefix = self.prefix
        buckets = [_bucket(f"{prefix}client:{client}", self.config.per_client)]
        for name, cost_class in self.classes:
            if cost >= cost_class.min_cost:
                buckets.append(_bucket(f"{prefix}cost:{name}:{client}", cost_class))
                break
        if not self.sensitive.isdisjoint(prepared.root_fields):
            buckets.append(_bucket(f"{prefix}sensitive:{client}", self.config.sensitive))
        try:
            wait = await self.store.take(buckets)
        except RedisError as exc:
            # Fail open: a Redis outage must not take the API down with it; the refusal
            # budget comes back with Redis. Logged so the outage is seen.
            log.warning("rate limit store unavailable, request let through: %s", exc)
            return
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise EdgeRefusal(
                429,
                f"Too many requests; retry after {retry_after} s.",
                "RATE_LIMITED",
                extensions={"retryAfter": retry_after},
                headers={"retry-after": str(retry_after)},
            )

    async def close(self) -> None:
        await self.store.close()


def _bucket(key: str, config: BucketConfig) -> Bucket:
    return Bucket(key, config.capacity, config.refill_per_second)
