"""The payments subgraph's ASGI app."""

from __future__ import annotations

from starlette.applications import Starlette

from coursegraph.app import SubgraphSpec, create_subgraph_app
from coursegraph.settings import Settings, get_settings
from subgraphs.payments.bootstrap import PaymentsContainer, bootstrap
from subgraphs.payments.loaders import PaymentsLoaders, make_loaders
from subgraphs.payments.routes import routes
from subgraphs.payments.schema import schema


def spec() -> SubgraphSpec[PaymentsContainer, PaymentsLoaders]:
    return SubgraphSpec(
        name="payments",
        schema=schema,
        bootstrap=bootstrap,
        loaders=lambda container: make_loaders(container.payments),
        routes=routes,
    )


def create_app(settings: Settings | None = None) -> Starlette:
    return create_subgraph_app(spec(), settings or get_settings())
