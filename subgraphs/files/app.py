"""The files subgraph's ASGI app."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route

from coursegraph.app import SubgraphSpec, create_subgraph_app
from coursegraph.body_limit import BodyLimit
from coursegraph.settings import Settings, get_settings
from subgraphs.files import endpoints
from subgraphs.files.bootstrap import FilesContainer, bootstrap
from subgraphs.files.loaders import FilesLoaders, make_loaders
from subgraphs.files.schema import schema


def spec() -> SubgraphSpec[FilesContainer, FilesLoaders]:
    return SubgraphSpec(
        name="files",
        schema=schema,
        bootstrap=bootstrap,
        loaders=lambda container: make_loaders(container.files),
        routes=[
            Route("/storage/uploads/{key}", endpoints.upload, methods=["PUT"]),
            Route("/media/{key}", endpoints.media, methods=["GET", "HEAD"]),
            Route(
                "/webhooks/mux",
                BodyLimit(endpoints.mux_webhook, endpoints.MAX_WEBHOOK_BYTES),
                methods=["POST"],
            ),
        ],
    )


def create_app(settings: Settings | None = None) -> Starlette:
    return create_subgraph_app(spec(), settings or get_settings())
