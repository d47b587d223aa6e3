"""Persisted queries: Apollo's automatic persisted queries (APQ) and a safelist mode.

APQ (`extensions.persistedQuery = {version: 1, sha256Hash}`, POST or GET): a hash alone is
looked up and answered with PERSISTED_QUERY_NOT_FOUND when unknown, so the client sends it
again with the query; a hash with a query registers the query once its SHA-256 matches.
The store is a bounded in-process LRU, or Redis so every router instance knows a query
registered on any of them.

Safelist mode: the operations in the client operation files (`clients/operations/*.graphql`)
are the only ones that run. Each is normalised (printed from its AST with the fragments it
uses, sorted by name, so formatting and comments do not matter) and hashed; a request's
operation is normalised the same way when it is first prepared, and the verdict is cached
with it. Clients may also send just the hash of a listed operation's normalised text.
"""

from __future__ import annotations

import glob
import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
    print_ast,
)
from redis.exceptions import RedisError

from router.checks import OperationCheck
from router.plan_cache import LRUCache
from router.prepared import OperationError, PreparedOperation
from router.stage import EdgeRefusal, Exchange, Stage

log = logging.getLogger("router")
NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"


class PersistedQueryError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class QueryStore(Protocol):
    async def get(self, sha256: str) -> str | None: ...

    async def put(self, sha256: str, query: str) -> None: ...

    async def close(self) -> None: ...


class MemoryQueryStore:
    def __init__(self, size: int) -> None:
        self._cache: LRUCache[str, str] = LRUCache(size)

    async def get(self, sha256: str) -> str | None:
        return self._cache.get(sha256)

    async def put(self, sha256: str, query: str) -> None:
        self._cache.put(sha256, query)

    async def close(self) -> None:
        return None


class RedisQueryStore:
    def __init__(self, redis: Any, prefix: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds

    # Redis being down degrades APQ to full queries (an unknown hash makes the client send
    # the text, which then runs unregistered) instead of failing requests.
    async def get(self, sha256: str) -> str | None:
        try:
            value = await self._redis.get(self._prefix + sha256)
        except RedisError as exc:
            log.warning("persisted query store unavailable: %s", exc)
            return None
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def put(self, sha256: str, query: str) -> None:
        try:
            await self._redis.set(self._prefix + sha256, query, ex=self._ttl)
        except RedisError as exc:
            log.warning("persisted query store unavailable: %s", exc)

    async def close(self) -> None:
        await self._redis.aclose()


class PersistedQueries:
    """Resolves a request's query text from `extensions.persistedQuery`."""

    def __init__(
        self,
        store: QueryStore | None,
        safelist: Callable[[], Safelist | None] = lambda: None,
    ) -> None:
        # None: APQ switched off (a persistedQuery extension is refused).
        self.store = store
        # The running schema state's safelist: its operations are known by hash without
        # registration (read per request, so a reload's new list applies at once).
        self.safelist = safelist

    async def resolve(self, query: Any, extensions: Any) -> Any:
        """The query text to run: `query` itself when the request is not persisted."""
        if not isinstance(extensions, dict):
            return query
        persisted = extensions.get("persistedQuery")
        if persisted is None:
            return query
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            raise PersistedQueryError(
                "PERSISTED_QUERY_VERSION_NOT_SUPPORTED",
                "Only version 1 of extensions.persistedQuery is supported.",
            )
        sha256 = persisted.get("sha256Hash")
        if not isinstance(sha256, str) or not sha256:
            raise PersistedQueryError(
                "BAD_REQUEST", "extensions.persistedQuery.sha256Hash must be a string."
            )
        sha256 = sha256.lower()
        if isinstance(query, str) and query:
            if hashlib.sha256(query.encode()).hexdigest() != sha256:
                raise PersistedQueryError(
                    HASH_MISMATCH, "The provided sha256Hash does not match the query."
                )
            if self.store is not None:
                await self.store.put(sha256, query)
            return query
        safelist = self.safelist()
        known = safelist.by_hash.get(sha256) if safelist is not None else None
        if known is not None:
            return known
        if self.store is None:
            raise PersistedQueryError(
                NOT_SUPPORTED, "Automatic persisted queries are not enabled on this router."
            )
        stored = await self.store.get(sha256)
        if stored is None:
            # Apollo's clients read this exact message and code, then send the query.
            raise PersistedQueryError(NOT_FOUND, "PersistedQueryNotFound", 200)
        return stored


def normalized(
    operation: OperationDefinitionNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> str:
    """The operation and the fragments it uses (transitively, sorted by name), printed."""
    used: dict[str, FragmentDefinitionNode] = {}
    pending: list[SelectionSetNode] = [operation.selection_set]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is not None and name not in used:
                    used[name] = fragment
                    pending.append(fragment.selection_set)
            else:
                inner = getattr(selection, "selection_set", None)
                if inner is not None:
                    pending.append(inner)
    document = DocumentNode(definitions=(operation, *(used[n] for n in sorted(used))))
    return print_ast(document)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Safelist:
    def __init__(self, texts: Iterable[str]) -> None:
        # Normalised operation text by its SHA-256.
        self.by_hash = {sha256_hex(text): text for text in texts}

    @classmethod
    def from_files(cls, patterns: Iterable[str]) -> Safelist:
        """Operations of every file matched by `patterns` (globs); fragments are shared
        across files, as client build tools merge them."""
        paths = sorted({Path(p) for pattern in patterns for p in glob.glob(pattern)})
        if not paths:
            raise ValueError(f"persisted_queries.safelist matches no files: {list(patterns)}")
        documents = [parse(path.read_text(encoding="utf-8")) for path in paths]
        fragments = {
            d.name.value: d
            for doc in documents
            for d in doc.definitions
            if isinstance(d, FragmentDefinitionNode)
        }
        return cls(
            normalized(d, fragments)
            for doc in documents
            for d in doc.definitions
            if isinstance(d, OperationDefinitionNode)
        )

    def allows(
        self, operation: OperationDefinitionNode, fragments: Mapping[str, FragmentDefinitionNode]
    ) -> bool:
        return sha256_hex(normalized(operation, fragments)) in self.by_hash


class SafelistCheck(OperationCheck[None]):
    """The operation check of safelist mode: only listed operations run (the verdict is
    cached with the operation)."""

    def __init__(self, safelist: Safelist) -> None:
        self.safelist = safelist

    def prepare(self, operation: PreparedOperation) -> None:
        if not self.safelist.allows(operation.operation, operation.fragments):
            message = (
                "This operation is not in the router's safelist of persisted operations; "
                "only the operations in the client's operation files are accepted."
            )
            raise OperationError.of(message, "OPERATION_NOT_IN_SAFELIST", 403)


class PersistedQueryStage(Stage):
    """The pipeline stage: the request's query text from `extensions.persistedQuery`."""

    def __init__(self, persisted: PersistedQueries) -> None:
        self.persisted = persisted

    async def on_request(self, exchange: Exchange) -> None:
        extensions = exchange.extensions
        if extensions is None:
            return
        try:
            exchange.query = await self.persisted.resolve(exchange.query, extensions)
        except PersistedQueryError as exc:
            raise EdgeRefusal(exc.status, exc.message, exc.code) from None

    async def close(self) -> None:
        if self.persisted.store is not None:
            await self.persisted.store.close()
