"""The payments subgraph's ASGI app."""

from __future__ import annotations

from starlette.applications import Starlette

from coursegraph.app import SubgraphSpec, create_subgraph_app
from coursegraph.settings import Settings, get_settings, load_section
from subgraphs.payments.bootstrap import PaymentsContainer, bootstrap
from subgraphs.payments.loaders import PaymentsLoaders, make_loaders
from subgraphs.payments.routes import routes
from subgraphs.payments.schema import schema
from subgraphs.payments.settings import PaymentsSettings


def spec(section: PaymentsSettings) -> SubgraphSpec[PaymentsContainer, PaymentsLoaders]:
    return SubgraphSpec(
        name="payments",
        schema=schema,
        bootstrap=lambda settings: bootstrap(settings, section),
        loaders=lambda container: make_loaders(container.payments),
        routes=routes,
    )


def create_app(
    settings: Settings | None = None, section: PaymentsSettings | None = None
) -> Starlette:
    return create_subgraph_app(
        spec(section or load_section(PaymentsSettings)), settings or get_settings()
    )
