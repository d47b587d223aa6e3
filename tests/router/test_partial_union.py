"""The federation gateway audit's `partial-union` and `partial-union-complex` suites,
query for query.

A union returned by a @shareable field may have different members in each subgraph.
Apollo's planner selects only the members that every subgraph still able to resolve the
field knows, so a member only one of them has reads as `{__typename}` with its fields
null; where only one subgraph can resolve the path (a root or a field only it has, then
value types below), all its members are kept.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.router.conftest import Stack

ALL_MEMBERS = "{ __typename ... on Common { label } ... on OnlyA { a } ... on OnlyB { b } }"
COMMON = {"__typename": "Common", "label": "common label"}

COMPLEX: list[tuple[str, dict[str, Any]]] = [
    (
        f"{{ rootA {{ wrapper {{ actions {ALL_MEMBERS} }} }} }}",
        {"rootA": {"wrapper": {"actions": [COMMON, {"__typename": "OnlyA", "a": None}]}}},
    ),
    (
        f"{{ rootB {{ wrapper {{ actions {ALL_MEMBERS} }} }} }}",
        {"rootB": {"wrapper": {"actions": [COMMON, {"__typename": "OnlyB", "b": None}]}}},
    ),
    (
        "{ rootA { wrapper { actions { __typename ... on OnlyB { b } } } } }",
        {"rootA": {"wrapper": {"actions": [{"__typename": "Common"}, {"__typename": "OnlyA"}]}}},
    ),
    (
        f"{{ shared {{ wrapper {{ actions {ALL_MEMBERS} }} }} }}",
        {"shared": {"wrapper": {"actions": [COMMON]}}},
    ),
    (
        f"{{ rootA {{ bWrapper {{ actions {ALL_MEMBERS} }} }} }}",
        {"rootA": {"bWrapper": {"actions": [COMMON, {"__typename": "OnlyB", "b": "only b"}]}}},
    ),
]

ALPHA = {"__typename": "Alpha", "id": "alpha-1", "value": "alpha value"}
SIMPLE: list[tuple[str, dict[str, Any]]] = [
    (
        """{ getResponse { message actions { __typename
             ... on Alpha { id value } ... on Beta { id name details } ... on Gamma { id label }
           } } }""",
        {
            "getResponse": {
                "message": "Hello, Federation!",
                "actions": [
                    ALPHA,
                    {
                        "__typename": "Beta",
                        "id": "beta-1",
                        "name": "beta name",
                        "details": "beta details",
                    },
                    {"__typename": "Gamma", "id": "gamma-1", "label": "gamma label"},
                ],
            }
        },
    ),
    (
        "{ getResponse { actions { __typename ... on Beta { name } ... on Gamma { label } } } }",
        {
            "getResponse": {
                "actions": [
                    {"__typename": "Alpha"},
                    {"__typename": "Beta", "name": "beta name"},
                    {"__typename": "Gamma", "label": "gamma label"},
                ]
            }
        },
    ),
]


@pytest.mark.parametrize(("query", "data"), COMPLEX, ids=[f"_{i}" for i in range(len(COMPLEX))])
def test_partial_union_complex(stack: Stack, query: str, data: dict[str, Any]) -> None:
    assert stack.query("partial_union_complex", query) == {"data": data}


@pytest.mark.parametrize(("query", "data"), SIMPLE, ids=[f"_{i}" for i in range(len(SIMPLE))])
def test_partial_union(stack: Stack, query: str, data: dict[str, Any]) -> None:
    assert stack.query("partial_union", query) == {"data": data}


def test_only_the_shared_members_are_fetched(stack: Stack) -> None:
    """The plan is Apollo's: the member only `a` knows is not even asked of `a`."""
    stack.reset()
    stack.query("partial_union_complex", f"{{ rootA {{ wrapper {{ actions {ALL_MEMBERS} }} }} }}")
    [request] = stack.requests("partial_union_complex", "a")
    assert "OnlyA" not in request["query"]
    assert "on Common" in request["query"]
    assert stack.requests("partial_union_complex", "b") == []
