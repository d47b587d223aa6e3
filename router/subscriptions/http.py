"""Subscriptions over HTTP, chosen by the request's Accept header (`streaming_mode`):

- `text/event-stream`: GraphQL over SSE, graphql-sse's distinct connections mode: one
  `event: next` per result, `event: complete` at the end (after a last `next` carrying
  the errors when the stream failed), a `:` comment line as heartbeat;
- `multipart/mixed;subscriptionSpec="1.0"`: Apollo's multipart HTTP subscriptions: parts
  `{"payload": result}` under boundary `graphql`, a `{}` heartbeat every
  `subscriptions.heartbeat_seconds`, a fatal error as `{"payload": null, "errors": [...]}`.

A refusal before the stream starts (validation, limits, authentication, the per-client
cap) is the usual JSON error response with its status. A query or mutation sent this way
gets its one result as one event.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

import orjson
from starlette.requests import Request
from starlette.responses import Response as HTTPResponse
from starlette.responses import StreamingResponse

from router.incremental import MULTIPART_CONTENT_TYPE, accepts_incremental, multipart
from router.service import Response
from router.stage import Exchange
from router.subscriptions.stream import Ending, Serving, Stream
from router.types import JSONObject

Mode = Literal["sse", "multipart"]
SSE_MEDIA_TYPE = "text/event-stream"
MULTIPART_MEDIA_TYPE = 'multipart/mixed;boundary="graphql";subscriptionSpec="1.0"'
_PART = b"\r\n--graphql\r\ncontent-type: application/json\r\n\r\n"
_MULTIPART_END = b"\r\n--graphql--\r\n"
# An SSE comment: clients ignore it, proxies see a live response.
SSE_HEARTBEAT = b":\n\n"
# Events waiting for a slow client; past it, the stream waits (a slow reader slows only
# its own subscription, and memory stays bounded).
QUEUE_SIZE = 16


def streaming_mode(accept: str) -> Mode | None:
    """The streaming protocol the Accept header asks for, in the header's order."""
    for entry in accept.split(","):
        media, *params = (part.strip().lower() for part in entry.split(";"))
        if media == SSE_MEDIA_TYPE:
            return "sse"
        if media == "multipart/mixed" and any(
            p.replace(" ", "").startswith("subscriptionspec=") for p in params
        ):
            return "multipart"
    return None


def _sse(event: str, data: JSONObject | None) -> bytes:
    body = orjson.dumps(data) if data is not None else b""
    return b"event: " + event.encode() + b"\ndata: " + body + b"\n\n"


def _sse_end(ending: Ending) -> bytes:
    last = _sse("next", {"errors": list(ending.errors)}) if ending.errors else b""
    return last + _sse("complete", None)


def _part(body: JSONObject) -> bytes:
    return _PART + orjson.dumps(body)


def _multipart_end(ending: Ending) -> bytes:
    last = _part({"payload": None, "errors": list(ending.errors)}) if ending.errors else b""
    return last + _MULTIPART_END


async def _frames(
    stream: Stream,
    serving: Serving,
    event: Callable[[JSONObject], bytes],
    end: Callable[[Ending], bytes],
    heartbeat: bytes | None,
) -> AsyncIterator[bytes]:
    queue: asyncio.Queue[JSONObject] = asyncio.Queue(QUEUE_SIZE)
    task = asyncio.create_task(stream.serve(queue.put))
    interval = serving.config.heartbeat_seconds if heartbeat is not None else None
    try:
        if heartbeat is not None:
            yield heartbeat  # the headers and a first part go out at once
        while True:
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait(
                {getter, task}, timeout=interval, return_when=asyncio.FIRST_COMPLETED
            )
            if getter in done:
                yield event(getter.result())
                continue
            getter.cancel()
            if task in done:
                while not queue.empty():
                    yield event(queue.get_nowait())
                yield end(task.result())
                return
            if heartbeat is not None:
                yield heartbeat
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        serving.streams.remove(stream)


async def serve_http(
    serving: Serving,
    request: Request,
    mode: Mode,
    query: Any,
    name: Any,
    variables: Any,
    extensions: Any,
    allow_mutation: bool,
) -> HTTPResponse:
    client_address = serving.client_address(request)
    exchange = Exchange(request, query, name, extensions, client_address)
    headers = serving.subgraph_headers(request, client_address)
    # A query with @defer sent by a client that also accepts incremental delivery (Apollo
    # Client may list both specs) gets its parts as the query endpoint sends them.
    incremental = mode == "multipart" and accepts_incremental(request.headers.get("accept", ""))
    opened = await serving.open(exchange, variables, headers, allow_mutation, incremental)
    if isinstance(opened, Response):
        errors = opened.body.get("errors")
        serving.answered(exchange, opened.status, errors)
        request_id = {serving.request_id_header: headers[serving.request_id_header]}
        if opened.status != 200:
            return HTTPResponse(
                orjson.dumps(opened.body),
                opened.status,
                headers=request_id,
                media_type="application/json",
            )
        if opened.parts is not None:
            return StreamingResponse(
                multipart(opened.body, opened.parts),
                media_type=MULTIPART_CONTENT_TYPE,
                headers=request_id,
            )
        single = (
            _sse("next", opened.body) + _sse("complete", None)
            if mode == "sse"
            else _part({"payload": opened.body}) + _MULTIPART_END
        )
        return _streaming(mode, _once(single), request_id)
    serving.answered(exchange, 200, None)
    # The stream is released when its frames end; and if the client left before they
    # started (the generator never ran), when the generator is collected.
    if mode == "sse":
        frames = _frames(opened, serving, lambda r: _sse("next", r), _sse_end, SSE_HEARTBEAT)
    else:
        frames = _frames(
            opened, serving, lambda r: _part({"payload": r}), _multipart_end, _part({})
        )
    weakref.finalize(frames, serving.streams.remove, opened)
    return _streaming(mode, frames, {serving.request_id_header: headers[serving.request_id_header]})


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body


def _streaming(
    mode: Mode, frames: AsyncIterator[bytes], headers: dict[str, str]
) -> StreamingResponse:
    media_type = SSE_MEDIA_TYPE if mode == "sse" else MULTIPART_MEDIA_TYPE
    # No caching or proxy buffering of a live stream (nginx honours X-Accel-Buffering).
    headers = {**headers, "cache-control": "no-cache", "x-accel-buffering": "no"}
    return StreamingResponse(frames, media_type=media_type, headers=headers)
