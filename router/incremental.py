"""Incremental delivery of `@defer`: the deferred parts of an execution, and their wire
format, Apollo Router's.

A client that accepts `multipart/mixed;deferSpec=20220824` gets the primary part as soon as
its fetches are done, `{"data": …, "hasNext": true}`, then one part per deferred block as
soon as that block's own fetches are done: `{"hasNext": …, "incremental": [{"data": …,
"path": […], "label"?: …, "errors"?: […]}]}`, one item per object the fragment applies to
(per list element under a list). A block starts once the part it is nested in was sent, so
its path always leads into data the client has. Errors of a block's fetches, nulls that
reach the fragment (its `data` is then null) and authorization refusals of its fields are
the item's. The last part says `"hasNext": false`.

The bytes are Apollo Router's (apollo-router/src/protocols/multipart.rs): content type
`multipart/mixed;boundary="graphql";deferSpec=20220824`, the first part opened by
`\\r\\n--graphql\\r\\n`, each part `content-type: application/json\\r\\n\\r\\n<json>` closed by
`\\r\\n--graphql`, and the last by `\\r\\n--graphql--\\r\\n` — what Apollo Client and GraphiQL's
parser (meros) read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from router.executor import (
    COST_ACTUAL_TOO_EXPENSIVE,
    Execution,
    deep_merge,
    objects_with_paths,
)
from router.planner.plan import DeferredBlock
from router.prepared import PlannedOperation
from router.projection import CompiledObject, Projector, selects
from router.types import JSONObject, ResponsePath

MULTIPART_CONTENT_TYPE = 'multipart/mixed;boundary="graphql";deferSpec=20220824'
_FIRST = b"\r\n--graphql\r\ncontent-type: application/json\r\n\r\n"
_NEXT = b"\r\ncontent-type: application/json\r\n\r\n"
_MORE = b"\r\n--graphql"
_END = b"\r\n--graphql--\r\n"
log = logging.getLogger("router")


def accepts_incremental(accept: str) -> bool:
    """Whether an Accept header lists `multipart/mixed` with `deferSpec=20220824` (Apollo
    Router asks for exactly that parameter; `multipart/mixed` alone is not enough)."""
    if "multipart" not in accept:
        return False  # every plain JSON client, at the cost of one scan
    for media_range in accept.split(","):
        kind, *parameters = (part.strip() for part in media_range.split(";"))
        if kind.lower() != "multipart/mixed":
            continue
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "deferspec" and value.strip().strip('"') == "20220824":
                return True
    return False


async def multipart(first: JSONObject, rest: AsyncIterator[JSONObject]) -> AsyncIterator[bytes]:
    """The response body: each payload a part, written as soon as it is known."""
    yield _FIRST + orjson.dumps(first) + (_MORE if first.get("hasNext") else _END)
    async for payload in rest:
        yield _NEXT + orjson.dumps(payload) + (_MORE if payload.get("hasNext") else _END)


def _under(error: JSONObject, at: ResponsePath) -> bool:
    path = error.get("path")
    return isinstance(path, list) and path[: len(at)] == at


def _at(tree: Any, at: ResponsePath) -> Any:
    for segment in at:
        if isinstance(segment, int):
            tree = tree[segment] if isinstance(tree, list) and segment < len(tree) else None
        else:
            tree = tree.get(segment) if isinstance(tree, dict) else None
    return tree


async def deferred_parts(
    execution: Execution, planned: PlannedOperation, primary: JSONObject | None
) -> AsyncIterator[JSONObject]:
    """Run the plan's deferred blocks (the primary part, whose `data` was `primary`, done)
    and yield one payload per block as it completes; the last says `hasNext: false`.
    Closing the iterator early (the client went away) cancels the blocks still running."""
    blocks = planned.plan.deferred
    # What the client has been sent so far: items go only where it has an object (null
    # propagation may have removed one the subgraphs returned).
    shown: JSONObject = orjson.loads(orjson.dumps(primary or {}))
    queue: asyncio.Queue[tuple[DeferredBlock, list[JSONObject]]] = asyncio.Queue()
    sent = {block.number: asyncio.Event() for block in blocks}
    sent[0] = asyncio.Event()
    sent[0].set()

    async def run(block: DeferredBlock) -> None:
        items: list[JSONObject] = []
        try:
            await sent[block.parent].wait()
            part = execution.fork()
            if not execution.too_large:
                await part.run_steps(block.steps)
            items = _items(block, part, planned, shown)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A router bug must not leak internals, nor hang the stream.
            log.exception("deferred part %s failed", ".".join(block.path))
            items = [
                {
                    "data": None,
                    "path": at,
                    "errors": [
                        {
                            "message": "Internal server error.",
                            "path": at,
                            "extensions": {"code": "INTERNAL_SERVER_ERROR"},
                        }
                    ],
                }
                for at, _ in objects_with_paths(execution.data, block.path)[:1]
            ]
        for item in items:
            target, data = _at(shown, item["path"]), item.get("data")
            if isinstance(target, dict) and isinstance(data, dict):
                deep_merge(target, data)
        await queue.put((block, items))
        # After the put: a nested block's part always follows its parent's.
        sent[block.number].set()

    tasks = [asyncio.create_task(run(block)) for block in blocks]
    try:
        for remaining in range(len(blocks) - 1, -1, -1):
            _, items = await queue.get()
            if execution.too_large:
                # Stopped (by this block or another one running beside it): the last part.
                yield _stopped(items)
                return
            if items:
                yield {"hasNext": remaining > 0, "incremental": items}
            elif remaining == 0:
                yield {"hasNext": False}
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _items(
    block: DeferredBlock, part: Execution, planned: PlannedOperation, shown: JSONObject
) -> list[JSONObject]:
    """One incremental item per object the block's fragment applies to."""
    compiled = (planned.deferred or {}).get(block.key)
    if compiled is None:
        return []
    data = part.data
    found = [
        (at, obj)
        for at, obj in objects_with_paths(data, block.path)
        if isinstance(_at(shown, at), dict)
    ]
    if part.too_large:
        return [{"data": None, "path": at, "errors": [_TOO_LARGE]} for at, _ in found[:1]]
    refused = [error for r in planned.restricted for error in r.errors(data)]
    unplaced = list(part.errors)
    items: list[JSONObject] = []
    for at, obj in found:
        own = _compiled_for(compiled, obj)
        if own is None:
            continue
        errors = [e for e in part.errors if _under(e, at)]
        unplaced = [e for e in unplaced if not _under(e, at)]
        errors.extend(e for e in refused if _under(e, at) and selects(own, e["path"][len(at) :]))
        item: JSONObject = {"data": Projector(errors).run_at(own, obj, at), "path": at}
        if block.label is not None:
            item["label"] = block.label
        if errors:
            item["errors"] = errors
        items.append(item)
    if unplaced and items:
        # About the block's requests rather than one object (a subgraph that is down).
        items[0].setdefault("errors", []).extend(unplaced)
    return items


_TOO_LARGE: JSONObject = {
    "message": "The subgraphs returned too many objects for this operation, so it was "
    "stopped; ask for fewer items (smaller `first`) or fewer nested lists.",
    "extensions": {"code": COST_ACTUAL_TOO_EXPENSIVE},
}


def _stopped(items: list[JSONObject]) -> JSONObject:
    """The last payload once `limits.max_response_objects` was passed: it says so, on an
    item when there is one, else beside the (empty) increment."""
    if any(_TOO_LARGE in item.get("errors", ()) for item in items):
        return {"hasNext": False, "incremental": items}
    if items:
        items[0].setdefault("errors", []).append(_TOO_LARGE)
        return {"hasNext": False, "incremental": items}
    return {"hasNext": False, "errors": [_TOO_LARGE]}


def _compiled_for(compiled: Mapping[str, CompiledObject], obj: JSONObject) -> CompiledObject | None:
    typename = obj.get("__typename")
    if isinstance(typename, str):
        return compiled.get(typename)
    # No __typename in the data: the object's type is the only one the fragment applies to.
    return next(iter(compiled.values())) if len(compiled) == 1 else None
