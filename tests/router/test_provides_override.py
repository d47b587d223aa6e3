"""@provides decides which subgraph serves a shareable root field; @override with
@requires."""

from __future__ import annotations

from tests.router.conftest import Stack


def test_provides_on_interface_picks_the_providing_subgraph(stack: Stack) -> None:
    stack.reset()
    result = stack.query("provides", "{ media { id animals { id name } } }")
    assert result == {"data": {"media": {"id": "m1", "animals": [{"id": "d1", "name": "Rex"}]}}}
    assert stack.requests("provides", "vet") == []


def test_provided_entity_jumps_for_other_fields(stack: Stack) -> None:
    result = stack.query("provides", "{ media { animals { name ... on Dog { age } } } }")
    assert result == {"data": {"media": {"animals": [{"name": "Rex", "age": 3}]}}}


def test_override_of_a_requires_field(stack: Stack) -> None:
    stack.reset()
    result = stack.query("provides", "{ media { animals { ... on Dog { greeting } } } }")
    assert result == {"data": {"media": {"animals": [{"greeting": "Woof, I am 3"}]}}}
    [call] = stack.requests("provides", "kennel")
    assert call["variables"]["representations"] == [{"__typename": "Dog", "id": "d1", "age": 3}]
