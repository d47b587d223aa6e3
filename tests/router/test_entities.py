"""Entities across subgraphs: keys, multiple keys, @requires, @provides, de-duplication."""

from __future__ import annotations

from tests.router.conftest import Stack


def test_root_field_of_one_subgraph(stack: Stack) -> None:
    result = stack.query("basic", "{ me { id name } }")
    assert result == {"data": {"me": {"id": "u1", "name": "Ada Lovelace"}}}


def test_entity_jump_with_requires(stack: Stack) -> None:
    result = stack.query("basic", "{ topProducts { upc name shippingEstimate inStock } }")
    assert result == {
        "data": {
            "topProducts": [
                {"upc": "1", "name": "Table", "shippingEstimate": 50, "inStock": True},
                {"upc": "2", "name": "Couch", "shippingEstimate": 0, "inStock": False},
                {"upc": "3", "name": "Chair", "shippingEstimate": 25, "inStock": True},
            ]
        }
    }


def test_second_key_and_nested_jumps(stack: Stack) -> None:
    result = stack.query(
        "basic",
        """{ topProducts(first: 1) { name reviews { body author { name username
              reviews { product { name inStock } } } } } }""",
    )
    table = result["data"]["topProducts"][0]
    assert table["name"] == "Table"
    assert [r["body"] for r in table["reviews"]] == ["Love it!", "Prefer something else."]
    ada = table["reviews"][0]["author"]
    assert ada["name"] == "Ada Lovelace"
    assert ada["username"] == "@ada"
    assert ada["reviews"] == [
        {"product": {"name": "Table", "inStock": True}},
        {"product": {"name": "Chair", "inStock": True}},
    ]
    assert "errors" not in result


def test_provides_avoids_a_fetch(stack: Stack) -> None:
    stack.reset()
    result = stack.query("basic", '{ review(id: "r2") { body author { username } } }')
    assert result == {
        "data": {"review": {"body": "Too expensive.", "author": {"username": "@complete"}}}
    }
    assert stack.requests("basic", "accounts") == []


def test_representations_are_deduplicated(stack: Stack) -> None:
    stack.reset()
    result = stack.query("basic", "{ topProducts { reviews { author { name } } } }")
    assert "errors" not in result
    calls = stack.requests("basic", "accounts")
    assert len(calls) == 1
    reps = calls[0]["variables"]["representations"]
    assert sorted(r["id"] for r in reps) == ["u1", "u2", "u3"]


def test_aliases_and_typename(stack: Stack) -> None:
    result = stack.query(
        "basic",
        """{ first: product(upc: "1") { __typename label: name ship: shippingEstimate }
             second: product(upc: "3") { kind: __typename name } __typename }""",
    )
    assert result == {
        "data": {
            "first": {"__typename": "Product", "label": "Table", "ship": 50},
            "second": {"kind": "Product", "name": "Chair"},
            "__typename": "Query",
        }
    }


def test_alias_clashing_with_key_field(stack: Stack) -> None:
    result = stack.query("basic", '{ product(upc: "2") { upc: name inStock } }')
    assert result == {"data": {"product": {"upc": "Couch", "inStock": False}}}


def test_fragments_and_variables(stack: Stack) -> None:
    result = stack.query(
        "basic",
        """query Top($n: Int, $upc: String!) {
             topProducts(first: $n) { ...P }
             product(upc: $upc) { ... on Product { name } }
           }
           fragment P on Product { name inStock }""",
        {"n": 2, "upc": "3"},
    )
    assert result == {
        "data": {
            "topProducts": [
                {"name": "Table", "inStock": True},
                {"name": "Couch", "inStock": False},
            ],
            "product": {"name": "Chair"},
        }
    }


def test_skip_and_include(stack: Stack) -> None:
    query = """query($withStock: Boolean!, $skipName: Boolean!) {
        product(upc: "1") { name @skip(if: $skipName) inStock @include(if: $withStock) }
    }"""
    stack.reset()
    assert stack.query("basic", query, {"withStock": False, "skipName": False}) == {
        "data": {"product": {"name": "Table"}}
    }
    assert stack.requests("basic", "inventory") == []
    assert stack.query("basic", query, {"withStock": True, "skipName": True}) == {
        "data": {"product": {"inStock": True}}
    }


def test_inaccessible_field_is_refused(stack: Stack) -> None:
    response = stack.post("basic", {"query": "{ me { birthYear } }"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_null_entity_gives_null(stack: Stack) -> None:
    result = stack.query("basic", '{ product(upc: "404") { name } user(id: "nobody") { name } }')
    assert result == {"data": {"product": None, "user": None}}
