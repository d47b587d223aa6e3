"""The router's composition root: the one module that knows both the core and its edge.

It binds the edge's operation checks to the router, builds the edge stages around it and
hands both to the HTTP endpoints. Settings come in as an argument (the process entry
point, router/cli.py, reads them once) and go to the `Router`, where the edge stages and
the endpoints read them. Nothing else in the router core imports `router.edge` (an
import-linter contract keeps it so).
"""

from __future__ import annotations

from functools import partial

from starlette.applications import Starlette

from coursegraph.settings import Settings
from router.config import RouterConfig
from router.edge.authentication import EdgeAuthenticator
from router.edge.pipeline import build_edge, operation_checks
from router.reload import Reloader
from router.server import RouterEndpoints
from router.service import Router
from router.source import LoadError, SupergraphSource
from router.stage import Edge
from router.supergraph import Supergraph


def build_router(supergraph: Supergraph, config: RouterConfig, settings: Settings) -> Router:
    """A router with the edge's operation checks (limits, safelist, authorization…)."""
    return Router(supergraph, config, settings, partial(operation_checks, settings))


def create_app(
    router: Router,
    *,
    authenticator: EdgeAuthenticator | None = None,
    reloader: Reloader | None = None,
    edge: Edge | None = None,
) -> Starlette:
    """The HTTP app of `router`; without `edge`, its stages are built from the router's
    config and settings (pipeline.py fixes their order). Raises ValueError for an edge
    section that cannot work, e.g. a Redis store without a URL."""
    if edge is None:
        edge = build_edge(router, authenticator)
    return RouterEndpoints(router, edge, reloader).app()


def build_app(
    source: SupergraphSource,
    settings: Settings,
    *,
    watch: bool,
    poll_seconds: float = 1.0,
    sdl_poll_seconds: float = 3.0,
) -> Starlette:
    """Load (or compose) the supergraph, wire the edge and, with `watch`, the hot
    reloader. Raises LoadError when there is nothing to serve."""
    # Taken before loading, so a change made while the first composition runs is reloaded.
    seen = source.signature()
    loaded = source.load()
    config = loaded.config
    try:
        router = build_router(loaded.supergraph, config, settings)
    except ValueError as error:
        raise LoadError(str(error)) from None
    authenticator = (
        EdgeAuthenticator.from_settings(settings, config.auth.jwks_url)
        if config.auth.verify_tokens
        else None
    )
    reloader = (
        Reloader(
            router,
            source,
            seen,
            loaded.remote_sdls,
            poll_seconds=poll_seconds,
            sdl_poll_seconds=sdl_poll_seconds,
        )
        if watch
        else None
    )
    try:
        return create_app(router, authenticator=authenticator, reloader=reloader)
    except ValueError as error:
        raise LoadError(str(error)) from None
