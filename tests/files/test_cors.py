"""CORS on files' public URLs: a page on an allowed origin uploads and streams (Range);
other origins, GraphQL and webhooks get no CORS headers."""

from __future__ import annotations

import httpx

from tests.files.flow import confirm, create_upload, entity, put, wait_for_status
from tests.files.media import make_mp4
from tests.files.servers import StartFiles

PAGE = "http://localhost:5173"


async def _preflight(url: str, origin: str, method: str, headers: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.options(
            url,
            headers={
                "origin": origin,
                "access-control-request-method": method,
                "access-control-request-headers": headers,
            },
        )


async def test_a_page_on_an_allowed_origin_uploads_and_streams(start_files: StartFiles) -> None:
    # A wildcard port, as in development's default.
    files = start_files(kernel={"cors_origins": ("http://localhost:*",)})
    video = make_mp4(10.0, media_bytes=8192)
    ticket = await create_upload(files, len(video))

    preflight = await _preflight(ticket["uploadUrl"], PAGE, "PUT", "content-type")
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == PAGE
    assert "PUT" in preflight.headers["access-control-allow-methods"]
    assert "content-type" in preflight.headers["access-control-allow-headers"].lower()
    uploaded = await put(ticket, video, Origin=PAGE)
    assert uploaded.status_code == 200
    assert uploaded.headers["access-control-allow-origin"] == PAGE

    await confirm(files, ticket["fileId"])
    assert (await wait_for_status(files, ticket["fileId"]))["status"] == "READY"
    url = (await entity(files, ticket["fileId"], viewerCanWatch=True))["playbackUrl"]
    assert (await _preflight(url, PAGE, "GET", "range")).status_code == 200
    async with httpx.AsyncClient(timeout=10) as client:
        part = await client.get(url, headers={"origin": PAGE, "range": "bytes=0-99"})
    assert part.status_code == 206
    assert part.content == video[:100]
    assert part.headers["access-control-allow-origin"] == PAGE
    exposed = {h.strip() for h in part.headers["access-control-expose-headers"].split(",")}
    assert {"content-range", "accept-ranges", "content-length"} <= exposed


async def test_other_origins_and_private_routes_get_no_cors(start_files: StartFiles) -> None:
    files = start_files(kernel={"cors_origins": ("http://localhost:*",)})
    ticket = await create_upload(files, 100)
    for origin in ("https://evil.test", "http://localhost.evil.test:5173"):
        refused = await _preflight(ticket["uploadUrl"], origin, "PUT", "content-type")
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers
    # An allowed origin may send only what the ticket names.
    extra = await _preflight(ticket["uploadUrl"], PAGE, "PUT", "content-type, x-custom")
    assert extra.status_code == 400
    # GraphQL (signed callers only) and webhooks are not for browsers.
    for path in ("/graphql", "/webhooks/mux"):
        answer = await _preflight(f"{files.url}{path}", PAGE, "POST", "content-type")
        assert "access-control-allow-origin" not in answer.headers
        assert answer.status_code == 405


async def test_no_origins_no_cors(start_files: StartFiles) -> None:
    files = start_files(kernel={"cors_origins": ()})
    ticket = await create_upload(files, 100)
    answer = await _preflight(ticket["uploadUrl"], PAGE, "PUT", "content-type")
    assert answer.status_code == 405
    assert "access-control-allow-origin" not in answer.headers
