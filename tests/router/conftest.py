"""Fixtures: test subgraphs and routers on 127.0.0.1, port 0, each server in a thread.

One server hosts every test graph's subgraphs (at /<graph>/<subgraph>/graphql) and one
hosts a router per graph variant (at /<variant>/graphql), started once per session.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from coursegraph.identity import JWKSCache, TokenVerifier
from coursegraph.settings import Environment, Settings
from coursegraph.testing import ServerThread
from router.bootstrap import build_router, create_app
from router.config import RouterConfig
from router.edge.authentication import EdgeAuthenticator
from router.edge.pipeline import build_edge
from router.service import Router
from router.stage import Edge
from router.supergraph import Supergraph
from tests.helpers import TEST_SERVICE_SECRET
from tests.router.graphs.loader import load_graph
from tests.router.subgraph_kit import SubgraphApp, build_subgraph_schema

GRAPHS = (
    "basic",
    "advanced",
    "interfaces",
    "mixed",
    "chains",
    "provides",
    "secure",
    "partial_union",
    "partial_union_complex",
    "context",
    "labels",
)
SLOW_SECONDS = 1.0


def router_settings(**update: Any) -> Settings:
    """The settings test routers are given: development (introspection, GraphiQL and the
    plan header as a developer sees them), the suite's service secret, no `.env`;
    `update` changes some, e.g. `environment=Environment.PRODUCTION`."""
    settings = Settings(
        _env_file=None,
        COURSEGRAPH_ENV=Environment.DEVELOPMENT,
        service_secret_key=TEST_SERVICE_SECRET,
    )
    return settings.model_copy(update=update) if update else settings


SETTINGS = router_settings()


def free_port() -> int:
    """A port nothing listens on now, for a server the test starts on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# Sockets bound for the whole session and never listening: their ports refuse
# connections, and no server started later can be given one (a released port could be).
_CLOSED: list[socket.socket] = []


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    _CLOSED.append(sock)
    port: int = sock.getsockname()[1]
    return port


@dataclass
class Stack:
    router_url: str
    subgraph_url: str = ""
    subgraphs: dict[str, dict[str, SubgraphApp]] = field(default_factory=dict)
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))

    def post(self, variant: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        return self.client.post(f"{self.router_url}/{variant}/graphql", json=body, headers=headers)

    def query(
        self, variant: str, query: str, variables: dict[str, Any] | None = None, **headers: str
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        response = self.post(variant, body, **headers)
        result: dict[str, Any] = response.json()
        return result

    def requests(self, graph: str, subgraph: str) -> list[dict[str, Any]]:
        return self.subgraphs[graph][subgraph].requests

    def reset(self) -> None:
        for apps in self.subgraphs.values():
            for app in apps.values():
                app.requests.clear()
                app.headers.clear()
                app.bodies.clear()


TOKEN_ISSUER = "coursegraph-users"
TOKEN_AUDIENCE = "coursegraph"
TOKEN_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_token(**claims: Any) -> str:
    now = int(time.time())
    payload = {
        "sub": "u1",
        "role": "STUDENT",
        "scope": "courses:read",
        "iss": TOKEN_ISSUER,
        "aud": TOKEN_AUDIENCE,
        "iat": now,
        "exp": now + 300,
        "jti": "t-1",
        **claims,
    }
    return jwt.encode(payload, TOKEN_KEY, algorithm="RS256", headers={"kid": "test-key"})


async def _static_jwks() -> dict[str, Any]:
    jwk = json.loads(RSAAlgorithm.to_jwk(TOKEN_KEY.public_key()))
    return {"keys": [{**jwk, "kid": "test-key", "alg": "RS256", "use": "sig"}]}


def _router(graph: str, base: str, settings: Settings = SETTINGS, **overrides: Any) -> Router:
    loaded = load_graph(graph)
    urls = {name: {"url": f"{base}/{graph}/{name}/graphql"} for name in loaded.subgraphs}
    for name, extra in overrides.pop("subgraphs", {}).items():
        urls[name] = {**urls[name], **extra}
    # The development-only `extensions.cost` stays out of the answers tests compare.
    overrides["limits"] = {"cost_extension": False, **overrides.get("limits", {})}
    config = RouterConfig.model_validate({"subgraphs": urls, **overrides})
    return build_router(Supergraph(loaded.supergraph), config, settings)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    apps: dict[str, dict[str, SubgraphApp]] = {}
    routes: list[Route] = []
    for graph in GRAPHS:
        loaded = load_graph(graph)
        apps[graph] = {}
        for name, sdl in loaded.subgraphs.items():
            app = SubgraphApp(build_subgraph_schema(sdl, loaded.resolvers.get(name, {})))
            apps[graph][name] = app
            routes.extend(app.routes(f"/{graph}/{name}"))
    slow = SubgraphApp(
        build_subgraph_schema(
            load_graph("basic").subgraphs["inventory"], load_graph("basic").resolvers["inventory"]
        ),
        delay=SLOW_SECONDS,
    )
    routes.extend(slow.routes("/slow/inventory"))
    subgraph_server = ServerThread(Starlette(routes=routes)).start()
    base = subgraph_server.url
    routers = {graph: _router(graph, base) for graph in GRAPHS}
    routers["basic-debug"] = _router("basic", base, debug={"expose_query_plan": True})
    routers["basic-down"] = _router(
        "basic", base, subgraphs={"inventory": {"url": f"http://127.0.0.1:{closed_port()}/graphql"}}
    )
    routers["basic-slow"] = _router(
        "basic",
        base,
        subgraphs={"inventory": {"url": f"{base}/slow/inventory/graphql", "timeout_seconds": 0.2}},
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        for router in routers.values():
            await router.close()

    authenticators: dict[str, EdgeAuthenticator | None] = {name: None for name in routers}
    routers["basic-auth"] = _router("basic", base)
    authenticators["basic-auth"] = EdgeAuthenticator(
        TokenVerifier(
            JWKSCache(_static_jwks),
            algorithm="RS256",
            issuer=TOKEN_ISSUER,
            audience=TOKEN_AUDIENCE,
        )
    )
    router_app = Starlette(
        routes=[
            Mount(f"/{name}", app=create_app(r, authenticator=authenticators[name]))
            for name, r in routers.items()
        ],
        lifespan=lifespan,
    )
    router_server = ServerThread(router_app).start()
    result = Stack(router_server.url, base, apps)
    yield result
    result.client.close()
    router_server.stop()
    subgraph_server.stop()


RouterFactory = Callable[..., str]


class AppHost:
    """One server for the apps tests start (routers with their own config, stand-in
    subgraphs): each is mounted at its own prefix and removed when the test ends, so a test
    pays no server start or stop."""

    def __init__(self) -> None:
        self.app = Starlette(routes=[], lifespan=self._lifespan)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.server = ServerThread(self.app).start()
        self._next = 0

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.loop = asyncio.get_running_loop()
        yield

    def mount(self, app: Any) -> tuple[str, Mount]:
        self._next += 1
        mount = Mount(f"/app{self._next}", app=app)
        self.app.router.routes.append(mount)
        return f"{self.server.url}/app{self._next}", mount

    def unmount(self, mount: Mount, *closers: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.app.router.routes.remove(mount)
        for close in closers:
            self.run(close())

    def run(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` on the host's loop, as a mounted app's lifespan would (a Mount gets
        none of its own)."""
        assert self.loop is not None
        asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=10)


@pytest.fixture(scope="session")
def app_host() -> Iterator[AppHost]:
    host = AppHost()
    yield host
    host.server.stop()


@pytest.fixture
def serve_router(stack: Stack, app_host: AppHost) -> Iterator[RouterFactory]:
    """Start a router for one test: `serve_router(graph, authenticated=False,
    span_exporter=None, settings=SETTINGS, **config)` returns its base URL (GraphQL at
    /graphql); closed when the test ends."""
    started: list[tuple[Mount, Router, Edge]] = []

    def start(
        graph: str = "basic",
        *,
        authenticated: bool = False,
        span_exporter: Any = None,
        settings: Settings = SETTINGS,
        **config: Any,
    ) -> str:
        router = _router(graph, stack.subgraph_url, settings, **config)
        return serve(app_host, started, router, authenticated, span_exporter)

    yield start
    for mount, router, edge in started:
        app_host.unmount(mount, router.close, edge.close)


def serve(
    host: AppHost,
    started: list[tuple[Mount, Router, Edge]],
    router: Router,
    authenticated: bool = False,
    span_exporter: Any = None,
) -> str:
    """Mount `router` with its edge on `host`; its base URL."""
    authenticator = make_authenticator() if authenticated else None
    edge = build_edge(router, authenticator, span_exporter=span_exporter)
    url, mount = host.mount(create_app(router, edge=edge))
    started.append((mount, router, edge))
    host.run(edge.start())  # background listeners (the response cache's events)
    return url


def make_authenticator() -> EdgeAuthenticator:
    return EdgeAuthenticator(
        TokenVerifier(
            JWKSCache(_static_jwks),
            algorithm="RS256",
            issuer=TOKEN_ISSUER,
            audience=TOKEN_AUDIENCE,
        )
    )
