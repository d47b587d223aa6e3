"""Entity fetches of one stage to one subgraph share a request (one aliased `_entities`
field per fetch): fewer subgraph requests, the same data and errors as one request each.

The subgraphs run in-process (graphql-core, no HTTP) behind a fake traffic layer, so each
test can count requests and inject failures; the plan's tree, run fetch by fetch, is the
reference the batched schedule must match.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import orjson
import pytest
from graphql import GraphQLSchema, graphql

from router.api_schema import build_api_schema
from router.executor import Execution, Executor
from router.http import SubgraphEndpoint
from router.operation import Operations
from router.planner import builder
from router.planner.plan import BatchNode, Plan
from router.subgraph_errors import SubgraphUnavailable
from router.supergraph import Supergraph
from tests.router.conftest import Stack
from tests.router.graphs import basic
from tests.router.graphs.loader import load_graph
from tests.router.subgraph_kit import build_subgraph_schema

PRODUCT = "inStock name price shippingEstimate upc weight"
# The benchmark's TestQuery on the test graph of the same shape.
TEST_QUERY = f"""
query TestQuery {{
  users {{
    id username name
    reviews {{
      id body
      product {{
        {PRODUCT}
        reviews {{
          id body
          author {{ id username name reviews {{ id body product {{ {PRODUCT} }} }} }}
        }}
      }}
    }}
  }}
  topProducts {{
    {PRODUCT}
    reviews {{
      id body
      author {{ id username name reviews {{ id body product {{ {PRODUCT} }} }} }}
    }}
  }}
}}
"""


class FakeTraffic:
    """Answers like the subgraph would, records each request, fails on demand."""

    def __init__(self, name: str, schema: GraphQLSchema) -> None:
        # Never dialled: only its name shows, in errors (`serviceName`).
        self.endpoint = SubgraphEndpoint(name, "http://127.0.0.1:9/graphql", 1.0)
        self.schema = schema
        self.requests: list[dict[str, Any]] = []
        self.down = False
        self.refuse_batches = False

    async def request(
        self, payload: dict[str, Any], headers: Mapping[str, str], idempotent: bool = True
    ) -> dict[str, Any]:
        self.requests.append(payload)
        if self.down:
            raise SubgraphUnavailable("connection refused")
        if self.refuse_batches and "_1:_entities" in payload["query"]:
            # What a field error on a non-null `_entities` does to the whole response.
            return {"data": None, "errors": [{"message": "refused", "path": ["_1"]}]}
        result = await graphql(
            self.schema, payload["query"], variable_values=payload.get("variables")
        )
        out: dict[str, Any] = {"data": result.data}
        if result.errors:
            out["errors"] = [dict(e.formatted) for e in result.errors]
        # A real response is bytes on the wire: nothing may be shared with the router.
        parsed: dict[str, Any] = orjson.loads(orjson.dumps(out))
        return parsed


@pytest.fixture
def basic_graph() -> tuple[Operations, Executor, dict[str, FakeTraffic]]:
    fixture = load_graph("basic")
    supergraph = Supergraph(fixture.supergraph)
    traffic = {
        graph: FakeTraffic(
            sub.name,
            build_subgraph_schema(fixture.subgraphs[sub.name], fixture.resolvers[sub.name]),
        )
        for graph, sub in supergraph.subgraphs.items()
    }
    executor = Executor(supergraph, traffic)  # type: ignore[arg-type]
    return Operations(supergraph, build_api_schema(supergraph), 100), executor, traffic


def _plan(ops: Operations, query: str) -> Plan:
    prepared = ops.prepare(query, None)
    return ops.planned(prepared, ops.coerce_variables(prepared, None)).plan


async def _run(
    executor: Executor, traffic: dict[str, FakeTraffic], plan: Plan
) -> tuple[Execution, int]:
    for fake in traffic.values():
        fake.requests.clear()
    execution = await executor.execute(plan, {}, {})
    return execution, sum(len(fake.requests) for fake in traffic.values())


def _tree(plan: Plan) -> Plan:
    """The same plan run node by node, one request per fetch."""
    return dataclasses.replace(plan, steps=())


def _sorted(errors: list[dict[str, Any]]) -> list[bytes]:
    return sorted(orjson.dumps(e, option=orjson.OPT_SORT_KEYS) for e in errors)


def test_the_test_query_needs_seven_requests_for_thirteen_fetches(
    basic_graph: tuple[Operations, Executor, dict[str, FakeTraffic]],
) -> None:
    ops, _, _ = basic_graph
    plan = _plan(ops, TEST_QUERY)
    assert plan.fetch_count == 13
    assert len(plan.steps) == 7
    batches = [step.node for step in plan.steps if isinstance(step.node, BatchNode)]
    # Reviews of users and of topProducts; the fields of every review's product, then
    # (after them: @requires price weight) its inventory fields; every author's name.
    assert sorted((b.fetches[0].service, len(b.fetches)) for b in batches) == [
        ("accounts", 2),
        ("inventory", 3),
        ("products", 3),
        ("reviews", 2),
    ]
    (reviews,) = [b for b in batches if b.fetches[0].service == "reviews"]
    assert sorted(f.path for f in reviews.fetches) == [("topProducts", "@"), ("users", "@")]
    for batch in batches:
        assert len({f.graph for f in batch.fetches}) == 1
    # The query plan as shown keeps one node per fetch.
    assert orjson.dumps(plan.to_json()).count(b'"kind":"Flatten"') == 11


async def test_batched_requests_give_the_same_data(
    basic_graph: tuple[Operations, Executor, dict[str, FakeTraffic]],
) -> None:
    ops, executor, traffic = basic_graph
    plan = _plan(ops, TEST_QUERY)
    batched, batched_requests = await _run(executor, traffic, plan)
    inventory = list(traffic["INVENTORY"].requests)
    alone, alone_requests = await _run(executor, traffic, _tree(plan))
    assert (batched_requests, alone_requests) == (7, 13)
    assert batched.errors == alone.errors == []
    assert batched.data == alone.data
    assert batched.data["users"][0]["reviews"][0]["product"]["shippingEstimate"] == 50
    assert batched.data["topProducts"][1]["reviews"][0]["author"]["name"] == "Alan Turing"
    # Inventory: topProducts' own fetch alone (it runs earlier), then one request with an
    # aliased field and a representations list for each of the three other fetches.
    assert len(inventory) == 2
    request = inventory[1]
    assert request["query"].startswith(
        "query($representations0:[_Any!]!,$representations1:[_Any!]!,"
        "$representations2:[_Any!]!){_0:_entities(representations:$representations0)"
    )
    assert set(request["variables"]) == {"representations0", "representations1", "representations2"}


async def test_through_the_router_the_response_is_the_same(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.reset()
    batched = stack.query("basic", TEST_QUERY)
    batched_requests = sum(len(app.requests) for app in stack.subgraphs["basic"].values())
    # A new plan (another query text) built without a schedule runs the tree as it is.
    monkeypatch.setattr(builder, "schedule", lambda tree: ())
    stack.reset()
    alone = stack.query("basic", TEST_QUERY.replace("TestQuery", "TestQueryAlone"))
    alone_requests = sum(len(app.requests) for app in stack.subgraphs["basic"].values())
    assert (batched_requests, alone_requests) == (7, 13)
    assert orjson.dumps(batched) == orjson.dumps(alone)
    assert "errors" not in batched


async def test_entity_errors_are_mapped_through_their_alias(
    basic_graph: tuple[Operations, Executor, dict[str, FakeTraffic]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ops, executor, traffic = basic_graph
    # Product 2's stock is not a Boolean: an error at ["_<n>", <i>, "inStock"] from every
    # inventory fetch that asks for product 2.
    monkeypatch.setitem(basic.STOCK, "2", "maybe")
    plan = _plan(ops, TEST_QUERY)
    batched, _ = await _run(executor, traffic, plan)
    alone, _ = await _run(executor, traffic, _tree(plan))
    assert batched.data == alone.data
    assert _sorted(batched.errors) == _sorted(alone.errors)
    paths = sorted(e["path"] for e in batched.errors)
    assert ["topProducts", 1, "inStock"] in paths
    assert ["users", 1, "reviews", 0, "product", "inStock"] in paths
    assert all(isinstance(p[0], str) and not p[0].startswith("_") for p in paths)
    assert {e["extensions"]["serviceName"] for e in batched.errors} == {"inventory"}


async def test_a_batch_whose_data_is_nulled_is_sent_again_one_request_per_fetch(
    basic_graph: tuple[Operations, Executor, dict[str, FakeTraffic]],
) -> None:
    ops, executor, traffic = basic_graph
    plan = _plan(ops, TEST_QUERY)
    alone, _ = await _run(executor, traffic, _tree(plan))
    for fake in traffic.values():
        fake.refuse_batches = True
    batched, requests = await _run(executor, traffic, plan)
    # Each of the 4 batches (2 + 3 + 2 + 3 fetches) once more fetch by fetch.
    assert requests == 7 + 10
    assert batched.data == alone.data
    assert batched.errors == alone.errors == []


async def test_an_unreachable_subgraph_is_reported_once_per_fetch_as_before(
    basic_graph: tuple[Operations, Executor, dict[str, FakeTraffic]],
) -> None:
    ops, executor, traffic = basic_graph
    traffic["INVENTORY"].down = True
    plan = _plan(ops, TEST_QUERY)
    batched, _ = await _run(executor, traffic, plan)
    alone, _ = await _run(executor, traffic, _tree(plan))
    assert batched.data == alone.data
    assert _sorted(batched.errors) == _sorted(alone.errors)
    assert len(batched.errors) == 4
    assert {e["extensions"]["code"] for e in batched.errors} == {"SERVICE_UNAVAILABLE"}


def test_mutation_root_fetches_are_never_batched(
    basic_graph: tuple[Operations, Executor, dict[str, FakeTraffic]],
) -> None:
    fixture = load_graph("advanced")
    supergraph = Supergraph(fixture.supergraph)
    ops = Operations(supergraph, build_api_schema(supergraph), 100)
    plan = _plan(
        ops,
        'mutation { a: enroll(code: "x") b: publish(id: "c1") { id } c: enroll(code: "y") }',
    )
    roots = [step for step in plan.steps if not isinstance(step.node, BatchNode)]
    assert len(roots) == len(plan.steps) == 3
    # Each waits for the one before it.
    assert [step.waits for step in plan.steps] == [(), (0,), (1,)]
