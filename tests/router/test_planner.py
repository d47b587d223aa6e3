"""Plan shapes: which subgraphs are called, in what order, with what selections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from router.api_schema import build_api_schema
from router.operation import Operations
from router.plan_cache import LRUCache
from router.prepared import OperationError
from router.supergraph import Supergraph

GRAPHS = Path(__file__).parent / "graphs"


@pytest.fixture(scope="module")
def operations() -> dict[str, Operations]:
    out = {}
    for name in ("basic", "advanced", "interfaces"):
        supergraph = Supergraph.from_file(GRAPHS / name / "supergraph.graphql")
        out[name] = Operations(supergraph, build_api_schema(supergraph), 100)
    return out


def plan(ops: Operations, query: str, variables: dict[str, Any] | None = None) -> Any:
    prepared = ops.prepare(query, None)
    return ops.planned(prepared, ops.coerce_variables(prepared, variables)).plan.to_json()["node"]


def shape(node: dict[str, Any]) -> Any:
    """A compact view: ("Seq", [...]), ("Par", [...]), "SERVICE" or "SERVICE@path"."""
    kind = node["kind"]
    if kind == "Fetch":
        return node["serviceName"]
    if kind == "Flatten":
        return f"{node['node']['serviceName']}@{'.'.join(node['path'])}"
    return ("Seq" if kind == "Sequence" else "Par", [shape(n) for n in node["nodes"]])


def test_single_subgraph_is_one_fetch(operations: dict[str, Operations]) -> None:
    node = plan(operations["basic"], "{ me { id name } }")
    assert node == {
        "kind": "Fetch",
        "serviceName": "accounts",
        "variableUsages": [],
        "operation": "query{me{id name}}",
        "operationKind": "query",
    }


def test_root_fields_of_different_subgraphs_run_in_parallel(
    operations: dict[str, Operations],
) -> None:
    node = plan(operations["basic"], "{ me { name } topProducts { name } }")
    assert shape(node) == ("Par", ["accounts", "products"])


def test_requires_adds_required_fields_to_the_parent_fetch(
    operations: dict[str, Operations],
) -> None:
    node = plan(operations["basic"], "{ topProducts { shippingEstimate } }")
    assert shape(node) == ("Seq", ["products", "inventory@topProducts.@"])
    assert node["nodes"][0]["operation"] == "query{topProducts{upc price weight __typename}}"
    assert node["nodes"][1]["node"]["operation"] == (
        "query($representations:[_Any!]!){_entities(representations:$representations)"
        "{...on Product{shippingEstimate}}}"
    )


def test_sibling_jumps_share_a_parallel_step(operations: dict[str, Operations]) -> None:
    node = plan(operations["basic"], "{ topProducts { inStock reviews { body } } }")
    assert shape(node) == (
        "Seq",
        ["products", ("Par", ["inventory@topProducts.@", "reviews@topProducts.@"])],
    )


def test_requires_from_another_subgraph_waits_for_it(operations: dict[str, Operations]) -> None:
    node = plan(operations["advanced"], "{ courses { seats priceLabel } }")
    # priceLabel (enroll) requires price (catalog), so enroll → catalog → enroll.
    assert shape(node) == ("Seq", ["enroll", "catalog@courses.@", "enroll@courses.@"])


def test_variables_are_declared_per_fetch(operations: dict[str, Operations]) -> None:
    node = plan(
        operations["basic"],
        "query($n: Int = 2, $id: ID!) { topProducts(first: $n) { name } user(id: $id) { name } }",
        {"id": "u1"},
    )
    by_service = {n["serviceName"]: n for n in node["nodes"]}
    assert by_service["products"]["operation"] == "query($n:Int=2){topProducts(first:$n){name}}"
    assert by_service["products"]["variableUsages"] == ["n"]
    assert by_service["accounts"]["variableUsages"] == ["id"]


def test_mutation_fields_stay_in_order(operations: dict[str, Operations]) -> None:
    node = plan(
        operations["advanced"],
        """mutation { a: enroll(code: "x") b: enroll(code: "y")
                      t: renameTeacher(id: "t1", name: "n") { name } c: enroll(code: "z") }""",
    )
    assert shape(node) == ("Seq", ["enroll", "people", "enroll"])
    assert node["nodes"][0]["operation"] == 'mutation{a:enroll(code:"x") b:enroll(code:"y")}'


def test_skip_and_include_pick_a_plan_per_variable_values(
    operations: dict[str, Operations],
) -> None:
    query = 'query($s: Boolean!) { product(upc: "1") { name inStock @include(if: $s) } }'
    assert shape(plan(operations["basic"], query, {"s": False})) == "products"
    assert shape(plan(operations["basic"], query, {"s": True})) == (
        "Seq",
        ["products", "inventory@product"],
    )


def test_abstract_types_expand_per_concrete_type(operations: dict[str, Operations]) -> None:
    node = plan(operations["interfaces"], "{ library { title ... on Book { price } } }")
    assert shape(node) == ("Seq", ["media", "shop@library.@"])
    assert node["nodes"][0]["operation"] == (
        "query{library{__typename ...on Book{title id __typename} ...on Video{title}}}"
    )


def test_interface_object_fields_use_the_interface_as_typename(
    operations: dict[str, Operations],
) -> None:
    node = plan(operations["interfaces"], "{ library { views } }")
    assert shape(node) == ("Seq", ["media", "stats@library.@"])
    assert "...on Media{views}" in node["nodes"][1]["node"]["operation"]
    assert node["nodes"][1]["node"]["requires"] == ["Media"]


def test_interface_object_root_jumps_for_concrete_types(operations: dict[str, Operations]) -> None:
    node = plan(operations["interfaces"], "{ popular { views ... on Video { duration } } }")
    assert shape(node) == ("Seq", ["stats", "media@popular.@"])


def test_operations_are_cached(operations: dict[str, Operations]) -> None:
    ops = operations["basic"]
    first = ops.prepare("{ me { id } }", None)
    assert ops.prepare("{ me { id } }", None) is first
    with pytest.raises(OperationError):
        ops.prepare("{ me { id } ", None)


def test_lru_cache_is_bounded() -> None:
    cache: LRUCache[str, int] = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert cache.get("b") is None
    assert cache.get("a") == 1
    assert len(cache) == 2
