"""The static cost estimate: Apollo's demand control rules over `@cost` and `@listSize`
composed from the subgraphs (router/edge/limits.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse

from router.api_schema import build_api_schema
from router.composition import SubgraphSource, compose
from router.config import LimitsConfig
from router.edge.limits import LimitExceeded, OperationLimits
from router.supergraph import Supergraph
from tests.router.conftest import RouterFactory

CATALOG = """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.9",
                    import: ["@key", "@cost", "@listSize"])
type Query {
  shelves(first: Int = 5, last: Int): ShelfConnection!
    @listSize(slicingArguments: ["first", "last"], sizedFields: ["edges"])
  books(limit: Int!): [Book!]! @listSize(slicingArguments: ["limit"])
  either(first: Int, last: Int): [Book!]!
    @listSize(slicingArguments: ["first", "last"], requireOneSlicingArgument: false)
  tags: [String!]! @listSize(assumedSize: 3)
  recommended(first: Int): [Book!]!
  search(text: String @cost(weight: 7)): [Book!]! @listSize(assumedSize: 2)
  expensive: Book @cost(weight: 40)
}
type ShelfConnection { edges: [Shelf!]! total: Int }
type Shelf { id: ID! books: [Book!]! @listSize(assumedSize: 4) }
type Book @key(fields: "id") @cost(weight: 3) { id: ID! title: String }
"""


@pytest.fixture(scope="module")
def limits() -> tuple[OperationLimits, Any]:
    supergraph = Supergraph(
        compose([SubgraphSource("catalog", "http://catalog", CATALOG)]).raise_for_errors()
    )
    return OperationLimits(LimitsConfig(max_cost=None), supergraph.schema), build_api_schema(
        supergraph
    )


def _cost(
    limits: tuple[OperationLimits, Any], query: str, variables: dict[str, Any] | None = None
) -> int:
    checker, schema = limits
    document = parse(query)
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    estimate = checker.check(schema, operation, fragments)
    if variables is None:
        return estimate.cost
    return checker.variable_cost(estimate, schema, operation, fragments, variables)


def test_sized_fields_take_the_connections_slicing_argument(limits: Any) -> None:
    # Schema default first: 5 -> 5 edges x (shelf 1 + 4 books x 3).
    assert _cost(limits, "{ shelves { edges { id books { id } } } }") == 1 + 5 * (1 + 4 * 3)
    assert _cost(limits, "{ shelves(first: 2) { edges { id } total } }") == 1 + 2
    # Two slicing arguments given: refused, as Apollo does (requireOneSlicingArgument).
    with pytest.raises(LimitExceeded) as refused:
        _cost(limits, "{ shelves(first: 2, last: 9) { edges { id } } }")
    assert refused.value.code == "COST_QUERY_PARSE_FAILURE"


def test_slicing_arguments_from_literals_variables_and_either(limits: Any) -> None:
    assert _cost(limits, "{ books(limit: 7) { id } }") == 7 * 3
    query = "query($n: Int!) { books(limit: $n) { id } }"
    assert _cost(limits, query, {"n": 100}) == 300
    assert _cost(limits, query, {"n": 2}) == 6
    # Without requireOneSlicingArgument: the larger one counts.
    assert _cost(limits, "{ either(first: 2, last: 9) { id } }") == 27


def test_assumed_sizes_weights_and_argument_costs(limits: Any) -> None:
    assert _cost(limits, "{ tags }") == 0  # a list of scalars costs nothing
    assert _cost(limits, "{ expensive { id } }") == 40
    # @cost on the type Book (3); the argument's own weight (7) when it is given.
    assert _cost(limits, "{ search { id } }") == 2 * 3
    assert _cost(limits, '{ search(text: "x") { id } }') == 2 * 3 + 7


def test_undeclared_lists_never_drop_below_the_default_size(limits: Any) -> None:
    # default_list_size is 10: `first: 1` does not lower it, `first: 50` raises it.
    assert _cost(limits, "{ recommended(first: 1) { id } }") == 10 * 3
    assert _cost(limits, "{ recommended(first: 50) { id } }") == 50 * 3


def test_fields_skipped_by_literal_conditions_cost_nothing(limits: Any) -> None:
    assert _cost(limits, "{ expensive @skip(if: true) { id } }") == 0
    assert _cost(limits, "{ expensive @include(if: false) { id } }") == 0
    assert _cost(limits, "{ expensive @include(if: true) { id } }") == 40


NESTED_TAUGHT_COURSES = """{ user(id: "t") { taughtCourses { teacher { taughtCourses {
    teacher { taughtCourses { teacher { taughtCourses { id title } } } } } } } } }"""


def test_the_nested_taught_courses_query_of_issue_13_is_refused_by_estimate() -> None:
    """With 10 assumed per list and no `first` on taughtCourses this was estimated at 12,221
    (limit 50,000) and such queries returned 160,000 courses. taughtCourses is now sliced
    by `first` (default and maximum 100): the estimate is over a hundred million."""
    supergraph = Supergraph.from_file(Path(__file__).parents[2] / "supergraph.graphql")
    checker = OperationLimits(LimitsConfig(), supergraph.schema)
    schema = build_api_schema(supergraph)
    document = parse(NESTED_TAUGHT_COURSES)
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    with pytest.raises(LimitExceeded) as refused:
        checker.check(schema, operation, {})
    assert refused.value.code == "COST_ESTIMATED_TOO_EXPENSIVE"
    assert "estimated cost is 102020201;" in refused.value.message


# ------------------------------------------------------------------ through a router
def _post(url: str, query: str) -> dict[str, Any]:
    response = httpx.post(f"{url}/graphql", json={"query": query}, timeout=10)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


TOP_WITH_REVIEWS = "{ topProducts(first: 3) { name reviews { id author { name } } } }"


def test_estimated_and_actual_cost_are_reported_in_extensions(serve_router: RouterFactory) -> None:
    url = serve_router(limits={"cost_extension": True})
    body = _post(url, TOP_WITH_REVIEWS)
    # 10 products assumed (no @listSize) x (1 + 10 reviews x (1 + author 1)) = 210.
    # Returned: 3 products, then 3 product entities with 4 reviews and their 4 authors
    # (users' entity fetch: 3 distinct users).
    assert body["extensions"]["cost"] == {"estimated": 210, "actual": 3 + 3 + 4 + 4 + 3}
    assert "extensions" not in _post(
        serve_router(limits={"cost_extension": False}), "{ me { id } }"
    )


def test_a_response_over_the_object_cap_is_stopped_with_a_clear_error(
    serve_router: RouterFactory,
) -> None:
    url = serve_router(
        limits={"max_response_objects": 10, "cost_extension": True}, telemetry={"metrics": True}
    )
    body = _post(url, TOP_WITH_REVIEWS)
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {"code": "COST_ACTUAL_TOO_EXPENSIVE"}
    assert "more than 10 objects" in error["message"]
    # Stopped at the fetch that crossed the cap (reviews: 3 + 11), so the users' fetch
    # after it never ran.
    assert body["extensions"]["cost"]["actual"] == 14
    fetches = [
        line
        for line in httpx.get(f"{url}/metrics").text.splitlines()
        if line.startswith("coursegraph_router_subgraph_fetch_duration_seconds_count")
    ]
    assert sorted(line.split('"')[1] for line in fetches) == ["products", "reviews"]
    # Under the cap, the same router answers.
    assert _post(url, "{ topProducts(first: 2) { name } }")["data"] == {
        "topProducts": [{"name": "Table"}, {"name": "Couch"}]
    }


def test_costs_are_exported_as_metrics(serve_router: RouterFactory) -> None:
    url = serve_router(telemetry={"metrics": True})
    for _ in range(2):
        httpx.post(f"{url}/graphql", json={"query": "query Top " + TOP_WITH_REVIEWS})
    text = httpx.get(f"{url}/metrics").text
    lines = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("coursegraph_router_operation_cost")
    }
    assert lines['coursegraph_router_operation_cost_estimated_count{operation="Top"}'] == 2
    assert lines['coursegraph_router_operation_cost_estimated_sum{operation="Top"}'] == 420
    assert lines['coursegraph_router_operation_cost_actual_sum{operation="Top"}'] == 2 * 17
