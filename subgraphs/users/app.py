"""The users subgraph's ASGI app."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette

from coursegraph.app import SubgraphSpec, create_subgraph_app
from coursegraph.identity import JWKSSource, RevocationSource
from coursegraph.settings import Settings, get_settings, load_section
from subgraphs.users.bootstrap import UsersContainer, bootstrap
from subgraphs.users.loaders import UsersLoaders, make_loaders
from subgraphs.users.routes import routes
from subgraphs.users.schema import schema
from subgraphs.users.settings import UsersSettings


def _jwks_source(container: UsersContainer) -> JWKSSource:
    # Users verifies its own tokens from memory, not over HTTP to itself.
    async def source() -> dict[str, Any]:
        return container.keys.jwks()

    return source


def _revocation_source(container: UsersContainer) -> RevocationSource:
    # Users reads its own revocations from its database, not over HTTP to itself.
    return container.users.recent_revocations


def spec(section: UsersSettings) -> SubgraphSpec[UsersContainer, UsersLoaders]:
    return SubgraphSpec(
        name="users",
        schema=schema,
        bootstrap=lambda settings: bootstrap(settings, section),
        loaders=lambda container: make_loaders(container.users),
        routes=routes,
        jwks_source=_jwks_source,
        revocation_source=_revocation_source,
    )


def create_app(settings: Settings | None = None, section: UsersSettings | None = None) -> Starlette:
    return create_subgraph_app(
        spec(section or load_section(UsersSettings)), settings or get_settings()
    )
