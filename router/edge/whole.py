"""Whole responses: the final answer to a public query, kept as the bytes sent, so a page
asked again is answered without executing or projecting anything (docs/caching.md).

A layer of the response cache (cache.py), in its store and under its invalidation: one
store, one event subscription, one epoch.

- **When**: the core asks once a query is admitted by every edge stage (authentication,
  rate limits, cost) and planned (router/service.py `_keepable`: a query, no field taken
  out for this viewer, one JSON body); mutations, subscriptions, @defer multipart answers
  and the plan a debugging client asks for never get here.
- **Key**: the schema state's digest (supergraph and config), the operation text and
  name, the variables as sent, the override labels on, and anonymous or signed in — the
  split the fetch layer makes, so a page computed for nobody is never served to somebody.
- **Kept** only when every fetch of the request was answered by a PUBLIC entry the fetch
  layer stored or read (its `Seen`), the answer has no errors, and no invalidation came
  while it was being built; until the earliest expiry of those entries, under all their
  tags, so an event that drops one of them drops the page too. A fetch that passed the
  cache by (payments, a mutation, `no-store`, a PRIVATE answer) keeps the page out.
- **Value**: the objects the subgraphs returned (telemetry's actual cost) on a first line,
  then the response body, sent as it is on a hit.

Metrics: the response cache's counts, with kind `response` and an empty subgraph.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import orjson

from router.edge.cache import HIT, MISS, STORE, ResponseCache, Seen, cache_key
from router.edge.cache_store import Put
from router.stage import StoredResponse
from router.traffic import SubgraphTraffic
from router.types import JSONObject

RESPONSE = "response"
_COUNTED = ""  # the `subgraph` label of whole responses: they are every subgraph's


class WholeResponses:
    def __init__(self, cache: ResponseCache) -> None:
        self.cache = cache

    async def lookup(
        self, request: tuple[Any, ...], headers: Mapping[str, str]
    ) -> StoredResponse | Keeping | None:
        cache = self.cache
        if not cache.listening:
            return None
        try:
            key = cache_key(RESPONSE, request, "authorization" in headers)
        except orjson.JSONEncodeError:  # variables orjson cannot write back: not kept
            return None
        (raw,) = await cache.store.get_many([key])
        if raw is not None:
            cache.counts[(_COUNTED, RESPONSE, HIT)] += 1
            objects, _, body = raw.partition(b"\n")
            return StoredResponse(body, int(objects))
        cache.counts[(_COUNTED, RESPONSE, MISS)] += 1
        return Keeping(cache, key)


class Keeping:
    """One request whose answer may be kept: its fetches go through the fetch layer, which
    tells `seen` how each was answered."""

    __slots__ = ("cache", "epoch", "key", "seen")

    def __init__(self, cache: ResponseCache, key: str) -> None:
        self.cache = cache
        self.key = key
        self.seen = Seen()
        # An invalidation from now on may concern what the fetches read: nothing is kept.
        self.epoch = cache.epoch

    async def fetch(
        self,
        traffic: SubgraphTraffic,
        payload: JSONObject,
        headers: Mapping[str, str],
        idempotent: bool,
    ) -> JSONObject:
        return await self.cache.fetch(traffic, payload, headers, idempotent, self.seen)

    async def keep(self, body: bytes, objects: int) -> None:
        cache, seen = self.cache, self.seen
        if not seen.public or not math.isfinite(seen.expires):
            return  # a fetch that was not a PUBLIC entry, or no fetch at all
        if self.epoch != cache.epoch or not cache.listening:
            return
        ttl = seen.expires - time.time()
        if ttl <= 0:
            return
        value = b"%d\n" % objects + body
        await cache.store.put_many([Put(self.key, value, ttl, tuple(seen.tags))])
        cache.counts[(_COUNTED, RESPONSE, STORE)] += 1
