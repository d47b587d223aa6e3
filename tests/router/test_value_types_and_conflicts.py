"""Value types spread over subgraphs, conflicting field types, @inaccessible values met at
runtime, and two @requires of one field with different arguments."""

from __future__ import annotations

from tests.router.conftest import Stack


def test_shared_root_value_type_is_fetched_from_each_subgraph(stack: Stack) -> None:
    result = stack.query("mixed", "{ shop { name address } }")
    assert result == {"data": {"shop": {"name": "Corner shop", "address": "1 Main Street"}}}


def test_value_type_field_through_the_parent_entity(stack: Stack) -> None:
    stack.reset()
    result = stack.query("mixed", "{ products { id category { id label } } }")
    assert result == {
        "data": {
            "products": [
                {"id": "p1", "category": {"id": "k1", "label": "Kitchen"}},
                {"id": "p2", "category": {"id": "k2", "label": "Garden"}},
            ]
        }
    }
    [call] = stack.requests("mixed", "beta")
    assert "category" in call["query"]
    assert call["variables"]["representations"] == [
        {"__typename": "Product", "id": "p1"},
        {"__typename": "Product", "id": "p2"},
    ]


def test_fields_with_different_types_per_concrete_type(stack: Stack) -> None:
    result = stack.query("mixed", "{ animals { name ... on Dog { id } ... on Cat { id } } }")
    assert result == {
        "data": {"animals": [{"name": "Rex", "id": "d1"}, {"name": "Tom", "id": None}]}
    }


def test_inaccessible_enum_value_and_type_read_as_null(stack: Stack) -> None:
    result = stack.query(
        "mixed", "{ pets { __typename ... on Dog { name mood } } animals { ... on Dog { mood } } }"
    )
    assert result == {
        "data": {
            "pets": [{"__typename": "Dog", "name": "Fido", "mood": None}, None],
            "animals": [{"mood": "HAPPY"}, {}],
        }
    }


def test_requires_of_one_field_with_two_arguments(stack: Stack) -> None:
    stack.reset()
    result = stack.query("mixed", '{ products { usd eur price(currency: "EUR") } }')
    assert result == {
        "data": {
            "products": [
                {"usd": "$20", "eur": "EUR 10", "price": 10},
                {"usd": "$40", "eur": "EUR 20", "price": 20},
            ]
        }
    }
    # Two fetches (one per `currency` the @requires needs), sent as one request with an
    # aliased `_entities` field each.
    (request,) = stack.requests("mixed", "gamma")
    assert "_0:_entities" in request["query"]
    assert "_1:_entities" in request["query"]
