"""@context / @fromContext, executed (the `context` graph): queries and the answers
expected, in the federation audit's style, then what the subgraphs received.

A contextual argument takes its value from the nearest enclosing object whose type sets
the context, read where the planner selected it (from geo for `Shop.region`); entities
under different ancestors get different values, even the same entity (p1 in two shops).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from router.cli import router_command
from router.planner.context import ContextVariable, grouped_request
from tests.router.conftest import Stack
from tests.router.graphs.loader import GRAPHS

CASES: list[tuple[str, dict[str, Any]]] = [
    (  # same subgraph: the shop's currency
        '{ shop(id: "s1") { products { name price } } }',
        {
            "shop": {
                "products": [{"name": "Pen", "price": "3 USD"}, {"name": "Book", "price": "12 USD"}]
            }
        },
    ),
    (  # a list of entities under different ancestors: p1 costs 3 USD in s1 and 3 EUR in s2
        "{ shops { id products { id price } } }",
        {
            "shops": [
                {
                    "id": "s1",
                    "products": [{"id": "p1", "price": "3 USD"}, {"id": "p2", "price": "12 USD"}],
                },
                {
                    "id": "s2",
                    "products": [{"id": "p1", "price": "3 EUR"}, {"id": "p3", "price": "40 EUR"}],
                },
            ]
        },
    ),
    (  # cross-subgraph: Shop.region is geo's
        "{ shops { products { shipping } } }",
        {
            "shops": [
                {
                    "products": [
                        {"shipping": "ships from eu-west"},
                        {"shipping": "ships from eu-west"},
                    ]
                },
                {
                    "products": [
                        {"shipping": "ships from us-east"},
                        {"shipping": "ships from us-east"},
                    ]
                },
            ]
        },
    ),
    (  # nested: the department's currency is nearer than the shop's; the region two levels up
        '{ shop(id: "s1") { departments { products { price shipping } } } }',
        {
            "shop": {
                "departments": [
                    {"products": [{"price": "12 GBP", "shipping": "ships from eu-west"}]}
                ]
            }
        },
    ),
    (  # entering from geo: the currency is fetched from catalog for the shop geo returned
        "{ nearbyShops { region products { name price } } }",
        {
            "nearbyShops": [
                {
                    "region": "us-east",
                    "products": [
                        {"name": "Pen", "price": "3 EUR"},
                        {"name": "Lamp", "price": "40 EUR"},
                    ],
                }
            ]
        },
    ),
    (  # a client alias on the context's field name does not disturb the value read
        '{ shop(id: "s1") { currency: id region: currency products { price shipping } } }',
        {
            "shop": {
                "currency": "s1",
                "region": "USD",
                "products": [
                    {"price": "3 USD", "shipping": "ships from eu-west"},
                    {"price": "12 USD", "shipping": "ships from eu-west"},
                ],
            }
        },
    ),
]


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[str(i) for i in range(len(CASES))])
def test_context_answers(stack: Stack, query: str, expected: dict[str, Any]) -> None:
    assert stack.query("context", query) == {"data": expected}


def test_the_value_is_sent_as_apollos_variable(stack: Stack) -> None:
    stack.reset()
    stack.query("context", '{ shop(id: "s1") { products { price } } }')
    fetches = [r for r in stack.requests("context", "catalog") if "_entities" in r["query"]]
    assert len(fetches) == 1
    assert "field" not in fetches[0]["query"]
    assert "price(currency:$contextualArgument_1_0)" in fetches[0]["query"]
    assert fetches[0]["variables"] == {
        "contextualArgument_1_0": "USD",
        "representations": [
            {"__typename": "Product", "id": "p1"},
            {"__typename": "Product", "id": "p2"},
        ],
    }


def test_different_values_go_in_one_request_one_alias_each(stack: Stack) -> None:
    stack.reset()
    stack.query("context", "{ shops { products { price } } }")
    fetches = [r for r in stack.requests("context", "catalog") if "_entities" in r["query"]]
    assert len(fetches) == 1
    query, variables = fetches[0]["query"], fetches[0]["variables"]
    assert "_0:_entities(representations:$representations_0)" in query
    assert "price(currency:$contextualArgument_1_0_1)" in query
    assert variables["contextualArgument_1_0_0"] == "USD"
    assert variables["contextualArgument_1_0_1"] == "EUR"
    # p1 is in both groups: the same representation, asked once per value.
    assert {"__typename": "Product", "id": "p1"} in variables["representations_0"]
    assert {"__typename": "Product", "id": "p1"} in variables["representations_1"]


def test_the_contextual_argument_is_not_in_the_api(stack: Stack) -> None:
    result = stack.query("context", '{ shop(id: "s1") { products { price(currency: "XXX") } } }')
    assert result["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "data" not in result


def test_a_client_variable_of_the_same_name_is_not_overwritten(stack: Stack) -> None:
    query = (
        "query($contextualArgument_1_0: ID!) { shop(id: $contextualArgument_1_0) "
        "{ products { price } } }"
    )
    result = stack.query("context", query, {"contextualArgument_1_0": "s2"})
    assert result == {"data": {"shop": {"products": [{"price": "3 EUR"}, {"price": "40 EUR"}]}}}


def test_grouped_requests_keep_clear_of_client_variable_names() -> None:
    variable = ContextVariable("contextualArgument_1_0", "currency", "String", ())
    document = (
        "query($representations:[_Any!]!,$contextualArgument_1_0:String,$representations_0:Int)"
        "{_entities(representations:$representations){...on Product{price(currency:"
        "$contextualArgument_1_0) tax(n:$representations_0)}}}"
    )
    request = grouped_request(document, (variable,), ("representations_0",), 2)
    assert request.representations == ("_representations_0", "representations_1")
    assert request.variables == (
        {"contextualArgument_1_0": "contextualArgument_1_0_0"},
        {"contextualArgument_1_0": "contextualArgument_1_0_1"},
    )
    assert request.document == (
        "query($_representations_0:[_Any!]!,$contextualArgument_1_0_0:String,"
        "$representations_1:[_Any!]!,$contextualArgument_1_0_1:String,$representations_0:Int)"
        "{_0:_entities(representations:$_representations_0){...on Product{price(currency:"
        "$contextualArgument_1_0_0) tax(n:$representations_0)}} "
        "_1:_entities(representations:$representations_1){...on Product{price(currency:"
        "$contextualArgument_1_0_1) tax(n:$representations_0)}}}"
    )


def test_the_plan_shows_apollos_context_rewrites() -> None:
    """The rewrites Apollo's query planner (2.14.4) writes for this operation."""
    args = ["plan", "--json", "--supergraph", str(GRAPHS / "context" / "supergraph.graphql")]
    query = '{ shop(id: "s1") { departments { products { price shipping } } } }'
    result = CliRunner().invoke(router_command, [*args, "--query", "-"], input=query)
    assert result.exit_code == 0, result.output
    last = json.loads(result.output)["node"]["nodes"][-1]
    assert last["path"] == ["shop", "departments", "@", "products", "@"]
    rewrites = sorted(last["node"]["contextRewrites"], key=lambda r: r["renameKeyTo"])
    assert rewrites == [
        {
            "kind": "KeyRenamer",
            "path": ["..", "... on Department", "currency"],
            "renameKeyTo": "contextualArgument_1_0",
        },
        {
            "kind": "KeyRenamer",
            "path": ["..", "..", "... on Shop", "region"],
            "renameKeyTo": "contextualArgument_1_1",
        },
    ]


def test_many_values_are_sent_in_bounded_requests(stack: Stack) -> None:
    stack.reset()
    result = stack.query("context", "{ bulk { products { price } } }")
    prices = [shop["products"][0]["price"] for shop in result["data"]["bulk"]]
    assert prices == [f"3 C{n}" for n in range(40)]
    fetches = [r for r in stack.requests("context", "catalog") if "_entities" in r["query"]]
    # 40 different currencies: 32 aliased `_entities` in one request, 8 in another.
    assert sorted(r["query"].count(":_entities(") for r in fetches) == [8, 32]
