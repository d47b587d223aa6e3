"""Interfaces and unions spread over subgraphs, and @interfaceObject."""

from __future__ import annotations

from tests.router.conftest import Stack


def test_interface_fields_from_interface_object_and_other_subgraphs(stack: Stack) -> None:
    result = stack.query(
        "interfaces",
        """{ library { __typename title views
             ... on Book { pages price } ... on Video { duration } } }""",
    )
    assert result == {
        "data": {
            "library": [
                {"__typename": "Book", "title": "Dune", "views": 1000, "pages": 412, "price": 12},
                {"__typename": "Video", "title": "Alien", "views": 2500, "duration": 117},
                {"__typename": "Book", "title": "Emma", "views": 10, "pages": 474, "price": 9},
            ]
        }
    }


def test_interface_object_root_resolves_concrete_types(stack: Stack) -> None:
    result = stack.query(
        "interfaces", "{ popular { id views title __typename ... on Book { pages } } }"
    )
    assert result == {
        "data": {
            "popular": [
                {"id": "v1", "views": 2500, "title": "Alien", "__typename": "Video"},
                {"id": "b1", "views": 1000, "title": "Dune", "__typename": "Book", "pages": 412},
                {"id": "b2", "views": 10, "title": "Emma", "__typename": "Book", "pages": 474},
            ]
        }
    }


def test_interface_object_without_typename_needs_one_fetch(stack: Stack) -> None:
    stack.reset()
    result = stack.query("interfaces", "{ popular { id views } }")
    assert result["data"]["popular"][0] == {"id": "v1", "views": 2500}
    assert stack.requests("interfaces", "media") == []


def test_union_members_from_several_subgraphs(stack: Stack) -> None:
    result = stack.query(
        "interfaces",
        """{ search(term: "d") { __typename ... on Book { title price }
             ... on Author { name } ... on Media { id } } }""",
    )
    assert result == {
        "data": {
            "search": [
                {"__typename": "Book", "title": "Dune", "price": 12, "id": "b1"},
                {"__typename": "Author", "name": "Frank Herbert"},
                {"__typename": "Video", "id": "v1"},
            ]
        }
    }


def test_partial_union_in_another_subgraph(stack: Stack) -> None:
    result = stack.query(
        "interfaces",
        "{ cart { ... on Book { title views price } ... on Gift { name } } }",
    )
    assert result == {
        "data": {
            "cart": [
                {"title": "Emma", "views": 10, "price": 9},
                {"name": "Gift card"},
                None,
            ]
        }
    }


def test_interface_object_field_comes_from_the_interface_object(stack: Stack) -> None:
    # `stars` is on the interface in `ratings` (an @interfaceObject) and, shareable, on
    # Video in `media`: one fetch to `ratings` answers it for every implementation.
    stack.reset()
    result = stack.query("interfaces", "{ popular { id stars } }")
    assert result == {
        "data": {
            "popular": [
                {"id": "v1", "stars": 5},
                {"id": "b1", "stars": 5},
                {"id": "b2", "stars": 5},
            ]
        }
    }
    assert stack.requests("interfaces", "media") == []
    assert len(stack.requests("interfaces", "ratings")) == 1
