"""The notifications subgraph's ASGI app."""

from __future__ import annotations

from functools import partial

from starlette.applications import Starlette

from coursegraph.app import SubgraphSpec, create_subgraph_app
from coursegraph.settings import Settings, get_settings
from subgraphs.notifications.bootstrap import NotificationsContainer, bootstrap
from subgraphs.notifications.loaders import NotificationsLoaders, make_loaders
from subgraphs.notifications.mail import Transport
from subgraphs.notifications.routes import routes
from subgraphs.notifications.schema import schema
from subgraphs.notifications.settings import NotificationsSettings


def spec(
    section: NotificationsSettings | None = None, transport: Transport | None = None
) -> SubgraphSpec[NotificationsContainer, NotificationsLoaders]:
    return SubgraphSpec(
        name="notifications",
        schema=schema,
        bootstrap=partial(bootstrap, section=section, transport=transport),
        loaders=lambda container: make_loaders(container.notifications),
        routes=routes(),
    )


def create_app(
    settings: Settings | None = None,
    section: NotificationsSettings | None = None,
    transport: Transport | None = None,
) -> Starlette:
    return create_subgraph_app(spec(section, transport), settings or get_settings())
