"""Response cache: subgraph answers kept as their subgraphs' cache hints allow, dropped
when a domain event names what they contain (docs/caching.md).

It sits around each subgraph fetch (the edge's fetch observer, outside telemetry, so a
hit is no subgraph fetch). Only queries: a mutation passes straight through.

- **What is stored**: an answer without errors whose `Cache-Control` says `max-age=N`
  (coursegraph/cache_control.py); `no-store`, no header, or a subgraph listed in
  `uncached_subgraphs` (payments: money is decided on fresh data only) never is.
- **Keys**: a root fetch by (subgraph, operation text, variables); an `_entities` fetch
  per entity, by (subgraph, operation text, other variables, representation), so the
  teacher fetched for one page serves the next and only the missing entities are asked
  for. A PUBLIC answer is the same for every viewer, but anonymous requests and signed-in
  ones keep separate entries, so a resolver may answer anonymous callers in a way that is
  PUBLIC for them (`viewerEnrollment: null`) and signed-in ones PRIVATE or `no-store`. A
  PRIVATE answer is keyed by the viewer's bearer token (never stored without one); a
  token names one viewer with one role, and a role change revokes tokens, so a token's
  entries cannot outlive what they were computed for.
- **Tags**: the object types the subgraph listed (`Cache-Tag`) and `Type:key` of each
  representation sent. An event's `entities` ("Course:<id>") drop the entries tagged
  `Course:<id>` or `Course`.
- **Entries** are the answer's JSON after a header line (when it expires, its tags), so
  the whole-response layer (router/edge/whole.py) can tell how long and under which tags
  a page built from hits may be kept.
- **Invalidation**: a core NATS subscription to every event subject (each router
  instance gets every event). While it is not connected nothing is read or stored, and
  when it (re)connects the store is emptied: events missed meanwhile cannot leave stale
  entries. A fetch that was in flight when an invalidation arrived is not stored. Without
  `NATS_URL` nothing can invalidate, so entries live at most
  `max_age_without_events_seconds` (1 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from coursegraph.events import SUBJECT_PREFIX, decode_nats_message
from router.config import ResponseCacheConfig
from router.edge.cache_store import CacheStore, Put
from router.executor import FetchObserver
from router.http import SubgraphAnswer
from router.stage import Stage
from router.traffic import SubgraphTraffic
from router.types import JSONObject

log = logging.getLogger("router")

ROOT = "root"
ENTITY = "entity"
HIT, MISS, STORE = "hit", "miss", "store"
_SORTED = orjson.OPT_SORT_KEYS
RECONNECT_SECONDS = 1.0
# In every key: entries of another layout (a router of another version sharing Redis) are
# never read.
ENTRY_FORMAT = 2


class Seen:
    """What one request's fetches allow of its whole answer (router/edge/whole.py): it may
    be kept until the earliest expiry of the entries it was built from, under all their
    tags, and only while every fetch was a PUBLIC, storable answer (`public`)."""

    __slots__ = ("expires", "public", "tags")

    def __init__(self) -> None:
        self.expires = math.inf
        self.public = True
        self.tags: set[str] = set()

    def entry(self, expires: float, tags: Iterable[str]) -> None:
        self.expires = min(self.expires, expires)
        self.tags.update(tags)

    def refuse(self) -> None:
        self.public = False


def entry_value(body: bytes, expires: float, tags: Sequence[str]) -> bytes:
    """An entry: a header line (orjson escapes line breaks, so the first one ends it), then
    the answer's JSON."""
    return orjson.dumps([expires, tags]) + b"\n" + body


def entry_body(raw: bytes) -> bytes:
    return raw.partition(b"\n")[2]


def note_entry(seen: Seen, raw: bytes) -> None:
    """Tell `seen` about a stored PUBLIC entry it was answered from."""
    expires, tags = orjson.loads(raw.partition(b"\n")[0])
    seen.entry(expires, tags)


class Policy:
    """A subgraph answer's `Cache-Control`: stored for `max_age` seconds, per viewer when
    private; None from `parse` when it may not be stored."""

    __slots__ = ("max_age", "private")

    def __init__(self, max_age: float, private: bool) -> None:
        self.max_age = max_age
        self.private = private

    @classmethod
    def parse(cls, header: str | None) -> Policy | None:
        if not header:
            return None
        max_age: float | None = None
        private = False
        for part in header.lower().split(","):
            name, _, value = part.strip().partition("=")
            if name in ("no-store", "no-cache"):
                return None
            if name == "private":
                private = True
            elif name == "max-age":
                try:
                    max_age = float(int(value.strip().strip('"')))
                except ValueError:
                    return None
        if max_age is None or max_age <= 0:
            return None
        return cls(max_age, private)


def cache_key(*parts: Any) -> str:
    return hashlib.sha256(orjson.dumps((ENTRY_FORMAT, *parts), option=_SORTED)).hexdigest()


def _objects(raw: bytes, answer: JSONObject) -> int:
    """Objects in a cached body, counted as router/http.py counts a fresh answer."""
    return raw.count(b"{") - (2 if isinstance(answer.get("data"), dict) else 1)


def representation_tags(value: Any) -> list[str]:
    """`Type:key` of every representation in `value` (a variables mapping or list)."""
    out: list[str] = []
    items = value.values() if isinstance(value, dict) else ()
    for item in items:
        if isinstance(item, list):
            for rep in item:
                if isinstance(rep, dict) and isinstance(rep.get("__typename"), str):
                    out.extend(_rep_tags(rep))
    return out


def _rep_tags(rep: Mapping[str, Any]) -> list[str]:
    typename = rep["__typename"]
    return [
        f"{typename}:{value}"
        for name, value in rep.items()
        if name != "__typename" and isinstance(value, str | int)
    ]


def invalidation_tags(entities: tuple[str, ...]) -> set[str]:
    """An event's entities → tags to drop: each entity and its type."""
    tags: set[str] = set()
    for entity in entities:
        typename, _, _ = entity.partition(":")
        tags.add(entity)
        tags.add(typename)
    return tags


class ResponseCache(Stage):
    """The edge stage (it only takes part in fetches and shutdown)."""

    def __init__(
        self,
        config: ResponseCacheConfig,
        store: CacheStore,
        nats_url: str | None,
        inner: FetchObserver | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.nats_url = nats_url
        self.inner = inner
        self.uncached = frozenset(config.uncached_subgraphs)
        # (subgraph, kind, outcome) → count; read by telemetry at scrape time.
        self.counts: defaultdict[tuple[str, str, str], int] = defaultdict(int)
        self.invalidated = 0  # entries dropped by events
        self.events = 0  # events that named entities
        # Bumped by every invalidation: an answer fetched across one is not stored.
        self.epoch = 0
        # Whether events reach this instance (always "true" without a bus: TTLs are short).
        self.listening = nats_url is None
        self._listener: asyncio.Task[None] | None = None
        self._nats: Any = None

    # ------------------------------------------------------------------ fetches
    async def fetch(
        self,
        traffic: SubgraphTraffic,
        payload: JSONObject,
        headers: Mapping[str, str],
        idempotent: bool,
        seen: Seen | None = None,
    ) -> JSONObject:
        """`seen` (the whole-response layer's) learns how this fetch was answered."""
        name = traffic.endpoint.name
        if not idempotent or name in self.uncached or not self.listening:
            if seen is not None:
                seen.refuse()
            return await self._forward(traffic, payload, headers, idempotent)
        variables = payload.get("variables")
        if (
            isinstance(variables, dict)
            and isinstance(variables.get("representations"), list)
            and payload["query"].count("_entities(") == 1
        ):
            return await self._entities(traffic, payload, variables, headers, seen)
        return await self._root(traffic, payload, headers, seen)

    async def _forward(
        self,
        traffic: SubgraphTraffic,
        payload: JSONObject,
        headers: Mapping[str, str],
        idempotent: bool,
    ) -> JSONObject:
        if self.inner is not None:
            return await self.inner.fetch(traffic, payload, headers, idempotent)
        return await traffic.request(payload, headers, idempotent=idempotent)

    def _ttl(self, policy: Policy) -> float:
        ttl = min(policy.max_age, self.config.max_age_seconds)
        if self.nats_url is None:
            ttl = min(ttl, self.config.max_age_without_events_seconds)
        return ttl

    def _policy(self, answer: JSONObject, viewer: str | None) -> Policy | None:
        """How `answer` may be stored, or None."""
        if answer.get("errors") or not isinstance(answer.get("data"), dict):
            return None
        header = answer.cache_control if isinstance(answer, SubgraphAnswer) else None
        policy = Policy.parse(header)
        if policy is None or (policy.private and viewer is None):
            return None
        if self._ttl(policy) <= 0:
            return None
        return policy

    @staticmethod
    def _type_tags(answer: JSONObject) -> list[str]:
        tags = answer.cache_tag if isinstance(answer, SubgraphAnswer) else None
        return [t for t in (tags or "").replace(" ", "").split(",") if t]

    async def _root(
        self,
        traffic: SubgraphTraffic,
        payload: JSONObject,
        headers: Mapping[str, str],
        seen: Seen | None,
    ) -> JSONObject:
        name = traffic.endpoint.name
        viewer = headers.get("authorization")
        document, variables = payload["query"], payload.get("variables") or {}
        public = cache_key(ROOT, name, document, variables, viewer is not None)
        private = cache_key(ROOT, name, document, variables, viewer) if viewer else None
        keys = [private, public] if private is not None else [public]
        for position, raw in enumerate(await self.store.get_many(keys)):
            if raw is not None:
                self.counts[(name, ROOT, HIT)] += 1
                if seen is not None:
                    if position == len(keys) - 1:  # the shared (PUBLIC) key is the last
                        note_entry(seen, raw)
                    else:
                        seen.refuse()
                body = entry_body(raw)
                cached: JSONObject = orjson.loads(body)
                return SubgraphAnswer(cached, _objects(body, cached))
        self.counts[(name, ROOT, MISS)] += 1
        epoch = self.epoch
        answer = await self._forward(traffic, payload, headers, True)
        policy = self._policy(answer, viewer)
        if policy is None or epoch != self.epoch or not self.listening:
            if seen is not None:
                seen.refuse()
            return answer
        tags = [*self._type_tags(answer), *representation_tags(variables)]
        key = private if policy.private else public
        assert key is not None  # a private policy needs a viewer (_policy)
        ttl = self._ttl(policy)
        expires = time.time() + ttl
        value = entry_value(orjson.dumps({"data": answer["data"]}), expires, tags)
        await self.store.put_many([Put(key, value, ttl, tuple(tags))])
        self.counts[(name, ROOT, STORE)] += 1
        if seen is not None:
            if policy.private:
                seen.refuse()
            else:
                seen.entry(expires, tags)
        return answer

    async def _entities(
        self,
        traffic: SubgraphTraffic,
        payload: JSONObject,
        variables: dict[str, Any],
        headers: Mapping[str, str],
        seen: Seen | None,
    ) -> JSONObject:
        name = traffic.endpoint.name
        viewer = headers.get("authorization")
        document = payload["query"]
        representations: list[Any] = variables["representations"]
        others = {k: v for k, v in variables.items() if k != "representations"}
        signed_in = viewer is not None
        publics = [
            cache_key(ENTITY, name, document, others, rep, signed_in) for rep in representations
        ]
        privates = (
            [cache_key(ENTITY, name, document, others, rep, viewer) for rep in representations]
            if viewer
            else None
        )
        lookup = [*privates, *publics] if privates is not None else publics
        found = await self.store.get_many(lookup)
        count = len(representations)
        cached: list[bytes | None] = found[-count:]
        if privates is not None:
            if seen is not None and any(p is not None for p in found[:count]):
                seen.refuse()  # a PRIVATE entry: this page is the viewer's own
            cached = [p if p is not None else c for p, c in zip(found[:count], cached, strict=True)]
        missing = [i for i, raw in enumerate(cached) if raw is None]
        hits = count - len(missing)
        if hits:
            self.counts[(name, ENTITY, HIT)] += hits
            if seen is not None and seen.public:
                for raw in cached:
                    if raw is not None:
                        note_entry(seen, raw)
        if missing:
            self.counts[(name, ENTITY, MISS)] += len(missing)
        bodies = [None if raw is None else entry_body(raw) for raw in cached]
        entities: list[Any] = [None if body is None else orjson.loads(body) for body in bodies]
        objects = sum(body.count(b"{") for body in bodies if body is not None)
        if not missing:
            return SubgraphAnswer({"data": {"_entities": entities}}, objects)
        epoch = self.epoch
        sent = [representations[i] for i in missing]
        subset = {**payload, "variables": {**variables, "representations": sent}}
        answer = await self._forward(traffic, subset, headers, True)
        objects += answer.objects if isinstance(answer, SubgraphAnswer) else 0
        out: JSONObject = {}
        data = answer.get("data")
        fetched = data.get("_entities") if isinstance(data, dict) else None
        if isinstance(fetched, list) and len(fetched) == len(missing):
            for position, entity in zip(missing, fetched, strict=True):
                entities[position] = entity
            out["data"] = {"_entities": entities}
        else:
            out["data"] = data
        errors = answer.get("errors")
        if errors:
            out["errors"] = [_renumbered(error, missing) for error in errors]
        policy = self._policy(answer, viewer)
        if (
            policy is not None
            and isinstance(fetched, list)
            and len(fetched) == len(missing)
            and epoch == self.epoch
            and self.listening
        ):
            keys = privates if policy.private else publics
            assert keys is not None  # a private policy needs a viewer (_policy)
            types = self._type_tags(answer)
            ttl = self._ttl(policy)
            expires = time.time() + ttl
            puts: list[Put] = []
            for i, entity in zip(missing, fetched, strict=True):
                rep = representations[i]
                if not (isinstance(rep, dict) and "__typename" in rep):
                    if seen is not None:
                        seen.refuse()  # not stored, so nothing would drop a page holding it
                    continue
                tags = [*types, *_rep_tags(rep)]
                value = entry_value(orjson.dumps(entity), expires, tags)
                puts.append(Put(keys[i], value, ttl, tuple(tags)))
                if seen is not None and not policy.private:
                    seen.entry(expires, tags)
            await self.store.put_many(puts)
            self.counts[(name, ENTITY, STORE)] += len(puts)
            if seen is not None and policy.private:
                seen.refuse()
        elif seen is not None:
            seen.refuse()
        return SubgraphAnswer(out, objects)

    # ------------------------------------------------------------------ invalidation
    async def start(self) -> None:
        """Subscribe to the events in the background: until it is done (or while NATS is
        away) the cache is neither read nor written."""
        if self.nats_url is not None and self._listener is None:
            self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def invalidate(self, entities: tuple[str, ...]) -> int:
        """Drop what the store holds of `entities` ("Type:id"); entries being fetched now
        are not stored."""
        self.epoch += 1
        self.events += 1
        dropped = await self.store.invalidate(invalidation_tags(entities))
        self.invalidated += dropped
        return dropped

    async def _on_message(self, message: Any) -> None:
        try:
            event = decode_nats_message(message.data)
        except (ValueError, KeyError, TypeError):
            return  # not an event envelope: nothing it names
        if event.entities:
            await self.invalidate(event.entities)

    async def _disconnected(self) -> None:
        self.listening = False
        self.epoch += 1

    async def _reconnected(self) -> None:
        # Events sent while we were away are lost to a core subscription: start empty.
        self.epoch += 1
        await self.store.clear()
        self.listening = True

    async def _listen(self) -> None:
        import nats

        url = self.nats_url
        assert url is not None  # started only with a bus
        while self._nats is None:
            client: Any = None
            try:
                client = await nats.connect(
                    url,
                    name="coursegraph-router-cache",
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=RECONNECT_SECONDS,
                    disconnected_cb=self._disconnected,
                    reconnected_cb=self._reconnected,
                )
                await client.subscribe(f"{SUBJECT_PREFIX}>", cb=self._on_message)
                await client.flush()
            except Exception as exc:  # NATS down: the cache stays off until it is back
                log.warning("response cache: no events from NATS (%s); cache off", exc)
                if client is not None:
                    with contextlib.suppress(Exception):
                        await client.close()
                await asyncio.sleep(RECONNECT_SECONDS)
                continue
            self._nats = client
        await self._reconnected()

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        if self._nats is not None:
            with contextlib.suppress(Exception):  # already closed, or NATS gone
                await self._nats.close()
        await self.store.close()


def _renumbered(error: Any, sent: list[int]) -> Any:
    """A subgraph error about the i-th entity sent is about the sent[i]-th one asked for."""
    if not isinstance(error, dict):
        return error
    path = error.get("path")
    if (
        isinstance(path, list)
        and len(path) >= 2
        and path[0] == "_entities"
        and isinstance(path[1], int)
        and 0 <= path[1] < len(sent)
    ):
        return {**error, "path": ["_entities", sent[path[1]], *path[2:]]}
    return error
