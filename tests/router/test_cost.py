"""The static cost estimate: Apollo's demand control rules over `@cost` and `@listSize`
composed from the subgraphs (router/edge/limits.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse

from router.api_schema import build_api_schema
from router.composition import SubgraphSource, compose
from router.config import LimitsConfig
from router.edge.limits import LimitExceeded, OperationLimits
from router.supergraph import Supergraph

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
