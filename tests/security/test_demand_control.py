"""Demand control that cannot be fooled (issue 13, point 3), through a real router in
front of a real courses subgraph.

- The nested `taughtCourses` query that returned 160,000 courses is refused by estimate,
  before any subgraph is called.
- Every client operation stays far below the cost limit (no false refusals).
- An answer larger than the object cap is stopped with COST_ACTUAL_TOO_EXPENSIVE.
- A slicing argument above the subgraph's maximum is refused by the subgraph.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLObjectType,
    OperationDefinitionNode,
    get_named_type,
    is_composite_type,
    is_list_type,
    is_non_null_type,
    parse,
)

from coursegraph.identity import Viewer
from coursegraph.settings import Settings
from coursegraph.testing import ServerThread
from router.api_schema import build_api_schema
from router.bootstrap import build_router, create_app
from router.config import RouterConfig
from router.edge.limits import OperationLimits
from router.supergraph import Supergraph
from subgraphs.courses.app import create_app as create_courses_app
from subgraphs.courses.bootstrap import CoursesContainer, bootstrap
from subgraphs.courses.settings import CoursesSettings
from tests.router.test_cost import NESTED_TAUGHT_COURSES

REPO = Path(__file__).resolve().parents[2]
CLOSED = "http://127.0.0.1:9/graphql"  # nothing listens: a call would fail loudly


@pytest.fixture(scope="module")
def courses(settings: Settings, courses_section: CoursesSettings) -> Iterator[ServerThread]:
    with ServerThread(create_courses_app(settings, courses_section)) as server:
        yield server


@pytest.fixture
def router_for(settings: Settings) -> Iterator[Any]:
    """A router on the repository's supergraph, signing with the test stack's keys."""
    started: list[ServerThread] = []

    def start(courses_url: str = CLOSED, **limits: Any) -> str:
        config = RouterConfig.model_validate(
            {
                "subgraphs": {
                    name: {"url": courses_url if name == "courses" else CLOSED}
                    for name in ("users", "courses", "payments", "files")
                },
                "limits": {"cost_extension": True, **limits},
            }
        )
        router = build_router(Supergraph.from_file(REPO / "supergraph.graphql"), config, settings)
        server = ServerThread(create_app(router)).start()
        started.append(server)
        return f"{server.url}/graphql"

    yield start
    for server in started:
        server.stop()


def _post(url: str, query: str) -> httpx.Response:
    return httpx.post(url, json={"query": query}, timeout=30)


def test_nested_taught_courses_are_refused_by_estimate_before_any_fetch(router_for: Any) -> None:
    refused = _post(router_for(), NESTED_TAUGHT_COURSES)
    assert refused.status_code == 400
    [error] = refused.json()["errors"]
    # Refused by the estimate: a fetch would have met the closed port instead.
    assert error["extensions"]["code"] == "COST_ESTIMATED_TOO_EXPENSIVE"
    assert "limit is 50000" in error["message"]


def test_client_operations_stay_well_under_the_cost_limit(settings: Settings) -> None:
    """The app's own operations must never be refused: each is estimated (preparing an
    operation runs the limits) at under a tenth of max_cost."""
    limit = RouterConfig().limits.max_cost
    assert limit is not None
    router = build_router(
        Supergraph.from_file(REPO / "supergraph.graphql"), RouterConfig(), settings
    )
    operations = router.state.operations
    estimated = 0
    for path in sorted((REPO / "clients" / "operations").glob("*.graphql")):
        text = path.read_text(encoding="utf-8")
        for operation in parse(text).definitions:
            if not isinstance(operation, OperationDefinitionNode) or operation.name is None:
                continue
            # Without variables: list sizes come from literals and variable defaults.
            cost = operations.cost(operations.prepare(text, operation.name.value), {})
            assert cost < limit / 10, (path.name, operation.name.value)
            estimated += 1
    assert estimated > 25


@pytest.fixture
async def container(
    settings: Settings, courses_section: CoursesSettings
) -> AsyncIterator[CoursesContainer]:
    async with bootstrap(settings, courses_section, relay=False) as built:
        yield built


async def _publish_courses(container: CoursesContainer, count: int) -> None:
    teacher = Viewer(str(uuid.uuid4()), "TEACHER")
    for n in range(count):
        course = await container.courses.create_course(teacher, f"Course {n}", None, None)
        section = await container.courses.add_section(teacher, str(course.id), "Basics")
        await container.courses.add_lecture(teacher, str(section.id), "One", is_preview=True)
        await container.courses.publish_course(teacher, str(course.id))


async def test_an_answer_over_the_object_cap_is_stopped(
    router_for: Any, courses: ServerThread, container: CoursesContainer, clean_database: None
) -> None:
    await _publish_courses(container, 12)
    url = router_for(f"{courses.url}/graphql", max_response_objects=30)
    query = "{ courses(first: %d) { edges { node { id sections { lectures { id } } } } } }"
    # The connection, then per course an edge, a node, a section, a lecture: 1 + 4 x 4.
    small = _post(url, query % 4).json()
    assert "errors" not in small
    assert small["extensions"]["cost"]["actual"] == 17
    # Estimated 1 + 12 x (1 + 1 + 50 x (1 + 50)) = 30,625: under max_cost, so it runs;
    # 12 courses give 49 objects, over the cap of 30.
    stopped = _post(url, query % 12).json()
    assert stopped["data"] is None
    assert [e["extensions"]["code"] for e in stopped["errors"]] == ["COST_ACTUAL_TOO_EXPENSIVE"]
    assert stopped["extensions"]["cost"] == {"estimated": 30625, "actual": 49}


async def test_a_slicing_argument_over_the_subgraph_maximum_is_refused(
    router_for: Any, courses: ServerThread, container: CoursesContainer, clean_database: None
) -> None:
    await _publish_courses(container, 1)
    url = router_for(f"{courses.url}/graphql")
    query = (
        "{ courses(first: 1) { edges { node { teacher { taughtCourses(first: %d) { id } } } } } }"
    )
    assert "errors" not in _post(url, query % 100).json()
    # The estimate allows 1,000 (it trusts the declared argument), the subgraph does not.
    refused = _post(url, query % 1000).json()
    assert "BAD_USER_INPUT" in [e["extensions"]["code"] for e in refused["errors"]]


def test_every_public_list_of_objects_declares_its_size() -> None:
    """Issue 13's rule, kept for new fields: a list a client can select has @listSize
    (a capped slicing argument or a size), or is the sized field of a connection that
    has one. Without it the estimate falls back to a guess."""
    supergraph = Supergraph.from_file(REPO / "supergraph.graphql")
    declared = OperationLimits(RouterConfig().limits, supergraph.schema).fields
    sized_by_connection: set[tuple[str, str]] = set()
    for (type_name, field_name), cost in declared.items():
        owner = supergraph.schema.type_map[type_name]
        if cost.list_size is not None and isinstance(owner, GraphQLObjectType):
            returned = get_named_type(owner.fields[field_name].type).name
            sized_by_connection.update((returned, child) for child in cost.list_size.sized)
    api = build_api_schema(supergraph)
    undeclared = [
        f"{type_name}.{field_name}"
        for type_name, gql_type in api.type_map.items()
        if isinstance(gql_type, GraphQLObjectType) and not type_name.startswith("__")
        for field_name, field in gql_type.fields.items()
        if is_list_type(field.type.of_type if is_non_null_type(field.type) else field.type)
        and is_composite_type(get_named_type(field.type))
        and (
            declared.get((type_name, field_name)) is None
            or declared[(type_name, field_name)].list_size is None
        )
        and (type_name, field_name) not in sized_by_connection
    ]
    assert undeclared == []
