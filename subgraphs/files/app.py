"""The files subgraph's ASGI app."""

from __future__ import annotations

from starlette.applications import Starlette

from coursegraph.app import SubgraphSpec, create_subgraph_app
from coursegraph.cors import PathCors, parse_origins
from coursegraph.settings import Settings, get_settings, load_section
from subgraphs.files.bootstrap import FilesContainer, bootstrap
from subgraphs.files.loaders import FilesLoaders, make_loaders
from subgraphs.files.routes import routes
from subgraphs.files.schema import schema
from subgraphs.files.settings import FilesSettings


def spec(section: FilesSettings) -> SubgraphSpec[FilesContainer, FilesLoaders]:
    return SubgraphSpec(
        name="files",
        schema=schema,
        bootstrap=lambda settings: bootstrap(settings, section),
        loaders=lambda container: make_loaders(container.files),
        routes=routes,
    )


# What a browser page sends to the public URLs: the upload ticket's headers (local and S3
# tickets name Content-Type only) and Range for a seeking player.
BROWSER_REQUEST_HEADERS = ("content-type", "range")
# What a player reads from a ranged media response.
BROWSER_RESPONSE_HEADERS = ("content-range", "accept-ranges", "content-length")


def create_app(settings: Settings | None = None, section: FilesSettings | None = None) -> Starlette:
    settings = settings or get_settings()
    app = create_subgraph_app(spec(section or load_section(FilesSettings)), settings)
    origins = parse_origins(settings.resolved_cors_origins)
    if origins:
        # Browsers on the allowed origins PUT uploads and GET media straight from here;
        # GraphQL and webhooks get no CORS headers.
        app.add_middleware(
            PathCors,
            prefixes=("/storage/uploads/", "/media/"),
            origins=origins,
            allow_methods=("GET", "HEAD", "PUT"),
            allow_headers=BROWSER_REQUEST_HEADERS,
            expose_headers=BROWSER_RESPONSE_HEADERS,
        )
    return app
