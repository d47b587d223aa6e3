"""@requires chains, keys that come from a third subgraph, mutations then entity fetches."""

from __future__ import annotations

from tests.router.conftest import Stack


def test_requires_of_a_requires(stack: Stack) -> None:
    stack.reset()
    result = stack.query("chains", '{ user(id: "u1") { name offer } }')
    assert result == {"data": {"user": {"name": "Ada", "offer": "20% off"}}}
    [call] = stack.requests("chains", "offers")
    assert call["variables"]["representations"] == [
        {"__typename": "User", "id": "u1", "discount": 20}
    ]


def test_null_required_field_is_sent_as_null(stack: Stack) -> None:
    result = stack.query("chains", '{ user(id: "u2") { discount offer } }')
    assert result == {"data": {"user": {"discount": 0, "offer": "0% off"}}}


def test_key_fetched_from_another_subgraph_first(stack: Stack) -> None:
    stack.reset()
    result = stack.query("chains", "{ accounts { uid flagged } }")
    assert result == {
        "data": {"accounts": [{"uid": "a1", "flagged": True}, {"uid": "a2", "flagged": False}]}
    }
    [call] = stack.requests("chains", "legacy")
    assert call["variables"]["representations"] == [
        {"__typename": "Account", "number": "N-001"},
        {"__typename": "Account", "number": "N-002"},
    ]


def test_mutation_result_gets_entity_fields(stack: Stack) -> None:
    stack.reset()
    result = stack.query("chains", 'mutation { createUser(name: "Grace") { name discount } }')
    assert result == {"data": {"createUser": {"name": "Grace", "discount": 20}}}
    [call] = stack.requests("chains", "users")
    assert call["query"].startswith("mutation")
