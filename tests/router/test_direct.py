"""POST /graphql reaches its endpoint without Starlette's routing, under a mount point too;
everything else is routed as before."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from router.direct import DirectRoute


async def direct(request: Request) -> Response:
    return PlainTextResponse(f"direct {(await request.body()).decode()}")


async def routed(request: Request) -> Response:
    return PlainTextResponse(f"routed {request.method} {request.url.path}")


def app() -> Starlette:
    return Starlette(
        routes=[
            Route("/graphql", routed, methods=["POST", "GET"]),
            Route("/graphql-other", routed, methods=["POST"]),
        ],
        middleware=[Middleware(DirectRoute, method="POST", path="/graphql", endpoint=direct)],
    )


def client(asgi: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://test")


async def test_the_endpoint_is_called_directly_and_the_rest_routed() -> None:
    async with client(app()) as http:
        assert (await http.post("/graphql", content=b"{}")).text == "direct {}"
        assert (await http.get("/graphql")).text == "routed GET /graphql"
        assert (await http.post("/graphql-other")).text == "routed POST /graphql-other"
        # Starlette's own answers stay: a trailing slash is redirected, another method 405.
        assert (await http.post("/graphql/")).status_code == 307
        assert (await http.put("/graphql")).status_code == 405


async def test_under_a_mount_point() -> None:
    async with client(Starlette(routes=[Mount("/basic", app=app())])) as http:
        assert (await http.post("/basic/graphql", content=b"x")).text == "direct x"
        routed = await http.post("/basic/graphql-other")
        assert routed.text == "routed POST /basic/graphql-other"
        assert (await http.post("/graphql")).status_code == 404
