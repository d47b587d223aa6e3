"""The courses subgraph's ASGI app."""

from __future__ import annotations

from starlette.applications import Starlette

from coursegraph.app import SubgraphSpec, create_subgraph_app
from coursegraph.settings import Settings, get_settings, load_section
from subgraphs.courses.bootstrap import CoursesContainer, bootstrap
from subgraphs.courses.loaders import CoursesLoaders, make_loaders
from subgraphs.courses.schema import schema
from subgraphs.courses.settings import CoursesSettings


def spec(section: CoursesSettings) -> SubgraphSpec[CoursesContainer, CoursesLoaders]:
    return SubgraphSpec(
        name="courses",
        schema=schema,
        bootstrap=lambda settings: bootstrap(settings, section),
        loaders=lambda container: make_loaders(container.courses, container.enrollments),
    )


def create_app(
    settings: Settings | None = None, section: CoursesSettings | None = None
) -> Starlette:
    return create_subgraph_app(
        spec(section or load_section(CoursesSettings)), settings or get_settings()
    )
