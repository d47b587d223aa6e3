"""Broken subgraph sets fail with Apollo's code, naming the coordinate and subgraphs."""

from __future__ import annotations

import pytest

from router.composition import SubgraphSource, compose
from tests.composition.cases import CASES, Case


@pytest.mark.parametrize("name", sorted(CASES))
def test_error_code_matches_apollo(name: str) -> None:
    case: Case = CASES[name]
    result = compose(
        [SubgraphSource(n, f"http://{n}.test/graphql", sdl) for n, sdl in case.subgraphs.items()]
    )
    assert result.supergraph_sdl is None
    matching = [e for e in result.errors if e.code == case.code]
    assert matching, [str(e) for e in result.errors]
    assert case.coordinate in {e.coordinate for e in matching}
    assert all(e.subgraphs for e in matching)
    assert case.code in str(matching[0])


def test_syntax_error_names_the_subgraph() -> None:
    result = compose([SubgraphSource("broken", "http://x", "type Query {")])
    assert [(e.code, e.subgraphs) for e in result.errors] == [("INVALID_GRAPHQL", ("broken",))]


def test_duplicate_and_missing_subgraphs_are_refused() -> None:
    sdl = "type Query { a: Int }"
    assert compose([]).errors[0].code == "NO_SUBGRAPHS"
    twice = compose([SubgraphSource("a", "u", sdl), SubgraphSource("a", "u", sdl)])
    assert twice.errors[0].code == "DUPLICATE_SUBGRAPH"


def test_context_errors_read_as_apollos() -> None:
    """The messages @apollo/composition 2.14.4 gives for these @fromContext mistakes."""
    head = (
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.8", '
        'import: ["@key", "@context", "@fromContext"]) type Query { t: T } '
        'type T @key(fields: "id") @context(name: "ctx") { id: ID! p: String q: Int u: U } '
    )
    expected = {
        "$ctx { q }": 'Context "ctx" is used in "U.f(x:)" but the selection is invalid: the type '
        'of the selection "Int" does not match the expected type "String"',
        "$ctx { p q }": 'Context "ctx" is used in "U.f(x:)" but the selection is invalid: '
        "multiple selections are made",
        "$ctx { r: p }": 'Context "ctx" is used in "U.f(x:)" but the selection is invalid: '
        "aliases are not allowed in the selection",
        "$ctx { nope }": 'Context "ctx" is used in "U.f(x:)" but the selection is invalid for '
        'type T. Error: Cannot query field "nope" on type "T".',
        "$other { p }": 'Context "other" is used at location "U.f(x:)" but is never set.',
    }
    for value, message in expected.items():
        argument = f'x: String @fromContext(field: "{value}")'
        body = f'type U @key(fields: "id") {{ id: ID! f({argument}): Int }}'
        result = compose([SubgraphSource("a", "http://a", head + body)])
        assert [e.message for e in result.errors] == [message], value


def test_misused_cost_directives_are_refused_as_apollo_refuses_them() -> None:
    """The errors (code and message) @apollo/composition 2.14.4 gives for this subgraph."""
    sdl = """
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.9",
                        import: ["@key", "@cost", "@listSize"])
    type Query {
      one: Int @listSize(assumedSize: 3)
      two(first: Int): [Int] @listSize(slicingArguments: ["nope"])
      three: Conn @listSize(sizedFields: ["missing", "count"])
      four: [Int] @listSize(assumedSize: -1)
      five: Node
    }
    type Conn { count: Int edges: [Int] }
    interface Node { id: ID @cost(weight: 2) }
    type Thing implements Node { id: ID }
    """
    result = compose([SubgraphSource("a", "http://a", sdl)])
    assert sorted((e.code, e.message) for e in result.errors) == sorted(
        [
            ("COST_APPLIED_TO_INTERFACE_FIELD", '@cost cannot be applied to interface "Node.id"'),
            ("LIST_SIZE_APPLIED_TO_NON_LIST", '"Query.one" is not a list'),
            (
                "LIST_SIZE_INVALID_SLICING_ARGUMENT",
                'Slicing argument "nope" is not an argument of "Query.two"',
            ),
            (
                "LIST_SIZE_INVALID_SIZED_FIELD",
                'Sized field "missing" is not a field on type "Conn"',
            ),
            ("LIST_SIZE_APPLIED_TO_NON_LIST", 'Sized field "Conn.count" is not a list'),
            ("LIST_SIZE_INVALID_ASSUMED_SIZE", 'Assumed size of "Query.four" cannot be negative'),
        ]
    )
