"""Files' HTTP endpoints beside GraphQL: local uploads and media, and Mux's webhook.

Thin, like the resolvers: check the request, call storage or the service, answer.
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from coursegraph.body_limit import BodyLimit
from coursegraph.log import get_logger
from subgraphs.files.bootstrap import FilesContainer
from subgraphs.files.processing.mux import WebhookRejected, parse_event, verify_webhook
from subgraphs.files.storage.local import SignedUrlError

log = get_logger("coursegraph.files.http")

# Mux's asset events are a few kilobytes; anything larger is not one.
MAX_WEBHOOK_BYTES = 256 * 1024


def _container(request: Request) -> FilesContainer:
    container: FilesContainer = request.app.state.container
    return container


async def upload(request: Request) -> Response:
    """PUT an object to a signed upload URL (local storage only)."""
    container = _container(request)
    storage = container.local_storage
    if storage is None:
        return PlainTextResponse("Not found.", status_code=404)
    key = request.path_params["key"]
    try:
        size, _ = storage.verify_upload(
            key, request.query_params, request.headers.get("content-type")
        )
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > size:
            raise SignedUrlError(413, f"The upload is larger than {size} bytes.")
        if declared is not None and declared != str(size):
            raise SignedUrlError(400, f"This upload URL accepts exactly {size} bytes.")
        if not await container.files.may_receive_upload(key):
            raise SignedUrlError(409, "This file no longer accepts uploads.")
        await storage.receive(key, request.stream(), size)
    except SignedUrlError as error:
        return PlainTextResponse(error.message, status_code=error.status)
    return Response(status_code=200)


async def media(request: Request) -> Response:
    """GET (or HEAD) a stored object by signed URL, with HTTP Range for seeking players."""
    container = _container(request)
    storage = container.local_storage
    if storage is None:
        return PlainTextResponse("Not found.", status_code=404)
    key = request.path_params["key"]
    try:
        storage.verify_download(key, request.query_params)
    except SignedUrlError as error:
        return PlainTextResponse(error.message, status_code=error.status)
    content_type = await container.files.media_content_type(key)
    path = storage.path(key)
    if content_type is None or not path.is_file():
        return PlainTextResponse("Not found.", status_code=404)
    # The URL itself is the credential and expires: private caches only.
    return FileResponse(path, media_type=content_type, headers={"cache-control": "private"})


async def mux_webhook(request: Request) -> Response:
    """Mux's asset events, verified on the raw body before anything is parsed."""
    container = _container(request)
    secret = container.mux_webhook_secret
    if secret is None:
        return PlainTextResponse("Not found.", status_code=404)
    body = await request.body()
    try:
        verify_webhook(
            request.headers.get("mux-signature"),
            body,
            secret,
            tolerance_seconds=container.mux_webhook_tolerance_seconds,
        )
        payload = orjson.loads(body)
    except WebhookRejected as error:
        log.warning("Mux webhook refused", reason=str(error))
        return PlainTextResponse(str(error), status_code=400)
    except orjson.JSONDecodeError:
        return PlainTextResponse("The body is not JSON.", status_code=400)
    event = parse_event(payload) if isinstance(payload, dict) else None
    if event is not None and not await container.files.handle_mux_event(event):
        # Acknowledged anyway: an asset that is not ours will never become ours.
        log.info("Mux event for an unknown asset", asset_id=event.asset_id, type=event.type)
    return JSONResponse({"received": True})


routes = [
    Route("/storage/uploads/{key}", upload, methods=["PUT"]),
    Route("/media/{key}", media, methods=["GET", "HEAD"]),
    Route("/webhooks/mux", BodyLimit(mux_webhook, MAX_WEBHOOK_BYTES), methods=["POST"]),
]
