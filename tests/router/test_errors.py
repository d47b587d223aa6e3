"""Subgraph errors, their paths, null propagation, unavailable and slow subgraphs."""

from __future__ import annotations

import time

from tests.router.conftest import Stack


def _codes(result: dict) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in result.get("errors", [])]


def test_root_fetch_error_keeps_its_path(stack: Stack) -> None:
    result = stack.query("advanced", '{ course(id: "c1") { title broken } }')
    assert result["data"] == {"course": {"title": "Python", "broken": None}}
    [error] = result["errors"]
    assert error["message"] == "broken on purpose"
    assert error["path"] == ["course", "broken"]
    assert error["extensions"]["serviceName"] == "catalog"


def test_entity_fetch_error_path_is_mapped_to_the_client_path(stack: Stack) -> None:
    result = stack.query("advanced", "{ courses { seats rating priceLabel broken } }")
    assert result["data"]["courses"][1] == {
        "seats": 12,
        "rating": 4,
        "priceLabel": "EUR 80",
        "broken": None,
    }
    paths = sorted(e["path"] for e in result["errors"])
    assert paths == [["courses", 0, "broken"], ["courses", 1, "broken"], ["courses", 2, "broken"]]


def test_non_null_error_nulls_the_nearest_nullable_parent(stack: Stack) -> None:
    result = stack.query("advanced", '{ course(id: "c1") { title strict } }')
    assert result["data"] == {"course": None}
    assert [e["path"] for e in result["errors"]] == [["course", "strict"]]


def test_null_propagation_through_lists_to_data(stack: Stack) -> None:
    result = stack.query("advanced", "{ courses { seats rating strict } }")
    assert result["data"] is None
    assert ["courses", 0, "strict"] in [e.get("path") for e in result["errors"]]


def test_unreachable_subgraph_gives_partial_data(stack: Stack) -> None:
    result = stack.query("basic-down", "{ topProducts(first: 2) { name inStock } }")
    assert result["data"] == {
        "topProducts": [{"name": "Table", "inStock": None}, {"name": "Couch", "inStock": None}]
    }
    assert _codes(result) == ["SERVICE_UNAVAILABLE"]
    assert result["errors"][0]["extensions"]["serviceName"] == "inventory"


def test_slow_subgraph_times_out(stack: Stack) -> None:
    started = time.monotonic()
    result = stack.query("basic-slow", '{ product(upc: "1") { name shippingEstimate } }')
    assert time.monotonic() - started < 0.9
    assert result["data"] == {"product": {"name": "Table", "shippingEstimate": None}}
    assert _codes(result) == ["SERVICE_UNAVAILABLE"]
