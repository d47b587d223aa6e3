"""Loading a whole list's fields before its items are resolved.

A field that awaits its DataLoader costs graphql-core a coroutine and a task per item
(about 70 µs each here: on a catalog page of 20 courses, two counts were most of the
subgraph's CPU; docs/benchmarks-log.md, "Where the CPU goes"). A list resolver that sees, by
`selects`, which of its items' fields the request asks for loads them for all items at
once; the items' resolvers then answer from the loader with `now_or_later`, without
awaiting. Fragments count; `@skip`/`@include` are not evaluated, so a field they drop may
be loaded for nothing, never missed: an item whose value is not loaded yet awaits it as
before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, TypeVar

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionNode,
)
from strawberry.dataloader import DataLoader
from strawberry.types import Info

K = TypeVar("K")
V = TypeVar("V")
R = TypeVar("R")


def _fields(
    selections: Iterable[SelectionNode], fragments: dict[str, FragmentDefinitionNode]
) -> Iterator[FieldNode]:
    for selection in selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _fields(selection.selection_set.selections, fragments)
        elif isinstance(selection, FragmentSpreadNode):
            yield from _fields(fragments[selection.name.value].selection_set.selections, fragments)


def _children(field: FieldNode) -> tuple[SelectionNode, ...]:
    return tuple(field.selection_set.selections) if field.selection_set is not None else ()


def selects(info: Info[Any, Any], *path: str) -> frozenset[str]:
    """The names (GraphQL spelling) of the fields selected at `path` below the current
    field: `selects(info, "edges", "node")` in `courses` → {"id", "lectureCount", …}.
    Read from graphql-core's nodes: Strawberry's `selected_fields` converts the whole
    sub-tree, arguments and directives included (the course page's largest frame that
    was not SQL)."""
    raw = info._raw_info
    fragments = raw.fragments
    level = [child for field in raw.field_nodes for child in _children(field)]
    for name in path:
        level = [
            child
            for field in _fields(level, fragments)
            if field.name.value == name
            for child in _children(field)
        ]
    return frozenset(field.name.value for field in _fields(level, fragments))


def now_or_later(loader: DataLoader[K, V], key: K) -> V | Awaitable[V]:
    """The loader's value for `key` at once when it is loaded already, else its pending load."""
    pending = loader.load(key)
    if not isinstance(pending, asyncio.Future) or not pending.done() or pending.cancelled():
        return pending
    if pending.exception() is not None:
        return pending  # awaited, it raises where the field is resolved
    value: V = pending.result()
    return value


def then(value: V | Awaitable[V], convert: Callable[[V], R]) -> R | Awaitable[R]:
    """`convert(value)`: at once for a value; for a pending load a future that gets it when
    the load does (a callback: no coroutine and no task), for other awaitables a coroutine."""
    if isinstance(value, asyncio.Future):
        return _chained(value, convert)
    if isinstance(value, Awaitable):
        return _converted(value, convert)
    return convert(value)


def _chained(source: asyncio.Future[V], convert: Callable[[V], R]) -> asyncio.Future[R]:
    result: asyncio.Future[R] = source.get_loop().create_future()

    def done(source: asyncio.Future[V]) -> None:
        if result.done():
            return
        if source.cancelled():
            result.cancel()
        elif (error := source.exception()) is not None:
            result.set_exception(error)
        else:
            try:
                result.set_result(convert(source.result()))
            except Exception as exc:  # the field's error, raised where it is awaited
                result.set_exception(exc)

    source.add_done_callback(done)
    return result


async def _converted(value: Awaitable[V], convert: Callable[[V], R]) -> R:
    return convert(await value)
