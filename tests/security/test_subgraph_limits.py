"""Defence in depth at the subgraphs: depth, alias, token and result-size limits in the
kernel, for every subgraph and every caller — here the best-placed one, the signed router.

The limits must still admit every query the router generates: each client operation and
the benchmark's TestQuery are planned, and every subgraph request of the plan (batched
`_entities` included) passes the subgraph's own validation with the limits on.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import strawberry
from graphql import (
    FragmentDefinitionNode,
    OperationDefinitionNode,
    parse,
    validate,
)

from coursegraph.federation import LIMIT_RULES, ResultSizeLimiter
from coursegraph.http import signed_client
from coursegraph.limits import MAX_ALIASES, MAX_DEPTH, MAX_TOKENS
from coursegraph.settings import Section, Settings
from coursegraph.testing import ServerThread
from launcher import subgraph_registry
from router.planner.builder import PlanBuilder
from router.planner.plan import BatchNode, FetchNode, PlanNode
from router.supergraph import Supergraph
from tests.helpers import GraphQLResult

REPO = Path(__file__).resolve().parents[2]
SUBGRAPHS = subgraph_registry.available()


@pytest.fixture(scope="module")
def servers(settings: Settings, sections: dict[str, Section]) -> Iterator[dict[str, ServerThread]]:
    started: dict[str, ServerThread] = {}
    try:
        for name in SUBGRAPHS:
            app = subgraph_registry.create_app(name, settings, sections[name])
            started[name] = ServerThread(app).start()
        yield started
    finally:
        for server in started.values():
            server.stop()


async def _as_router(settings: Settings, url: str, query: str) -> GraphQLResult:
    async with signed_client(settings, "router", url) as client:
        response = await client.post("/graphql", json={"query": query})
    payload = response.json()
    return GraphQLResult(response.status_code, payload.get("data"), payload.get("errors") or [])


def _nested_taught_courses(levels: int) -> str:
    """`course { teacher { taughtCourses(first: 1) { teacher { ... } } } }`, `levels`
    fields deep (one course per level: only the depth is large)."""
    inner = "id"
    depth = 1
    while depth + 2 <= levels:
        inner = f"teacher {{ taughtCourses(first: 1) {{ {inner} }} }}"
        depth += 2
    return f'{{ course(slug: "x") {{ {inner} }} }}'


async def test_a_22_level_query_is_refused_at_courses(
    settings: Settings, servers: dict[str, ServerThread]
) -> None:
    query = _nested_taught_courses(22)
    refused = await _as_router(settings, servers["courses"].url, query)
    assert refused.code == "MAX_DEPTH_LIMIT"
    assert str(MAX_DEPTH) in refused.errors[0]["message"]
    assert refused.data is None
    # The same shape within the limit runs (no such course: null, no error).
    allowed = await _as_router(settings, servers["courses"].url, _nested_taught_courses(19))
    assert allowed.ok() == {"course": None}


@pytest.mark.parametrize("subgraph", SUBGRAPHS)
async def test_200_aliases_are_refused_at_every_subgraph(
    settings: Settings, servers: dict[str, ServerThread], subgraph: str
) -> None:
    query = "{ " + " ".join(f"a{i}: _service {{ sdl }}" for i in range(200)) + " }"
    refused = await _as_router(settings, servers[subgraph].url, query)
    assert refused.code == "MAX_ALIASES_LIMIT"
    assert refused.data is None
    fits = "{ " + " ".join(f"a{i}: __typename" for i in range(MAX_ALIASES)) + " }"
    assert len((await _as_router(settings, servers[subgraph].url, fits)).ok()) == MAX_ALIASES


@pytest.mark.parametrize("subgraph", SUBGRAPHS)
async def test_too_many_tokens_are_refused_at_every_subgraph(
    settings: Settings, servers: dict[str, ServerThread], subgraph: str
) -> None:
    # One field, repeated: no alias, depth 1, only the token count is over.
    query = "{ " + "__typename " * MAX_TOKENS + "}"
    refused = await _as_router(settings, servers[subgraph].url, query)
    assert refused.code == "MAX_TOKENS_LIMIT"
    assert refused.data is None


async def test_an_expensive_query_is_refused_by_estimate_before_it_runs(
    settings: Settings, servers: dict[str, ServerThread]
) -> None:
    """The router's estimate, at the subgraph: 100 courses x 50 sections x 50 lectures is
    255,201 objects, refused before any SQL; five courses run."""
    query = "{ courses(first: %d) { edges { node { sections { lectures { id } } } } } }"
    refused = await _as_router(settings, servers["courses"].url, query % 100)
    assert refused.code == "COST_ESTIMATED_TOO_EXPENSIVE"
    assert "estimated cost is 255201" in refused.errors[0]["message"]
    assert refused.data is None
    assert "courses" in (await _as_router(settings, servers["courses"].url, query % 5)).ok()


async def test_entities_count_as_many_as_their_representations(
    settings: Settings, servers: dict[str, ServerThread]
) -> None:
    query = (
        "query($r: [_Any!]!) { _entities(representations: $r) "
        "{ ... on User { taughtCourses { id } } } }"
    )

    async def send(count: int) -> GraphQLResult:
        reps = [{"__typename": "User", "id": str(uuid.uuid4())} for _ in range(count)]
        async with signed_client(settings, "router", servers["courses"].url) as client:
            response = await client.post(
                "/graphql", json={"query": query, "variables": {"r": reps}}
            )
        body = response.json()
        return GraphQLResult(response.status_code, body.get("data"), body.get("errors") or [])

    # 600 users x (1 + 100 courses) = 60,600: refused; 400 x 101 = 40,400 runs.
    assert (await send(600)).code == "COST_ESTIMATED_TOO_EXPENSIVE"
    answered = (await send(400)).ok()["_entities"]
    assert len(answered) == 400
    assert all(entity == {"taughtCourses": []} for entity in answered)


# ------------------------------------------------------------------ result size
@strawberry.type
class Item:
    id: int

    @strawberry.field
    def children(self, count: int) -> list[Item]:
        return [Item(id=self.id * 1000 + i) for i in range(count)]


@strawberry.type
class _Query:
    @strawberry.field
    def items(self, count: int) -> list[Item]:
        return [Item(id=i) for i in range(count)]


def test_a_result_over_the_object_cap_is_replaced_by_one_error() -> None:
    schema = strawberry.Schema(_Query, extensions=[lambda: ResultSizeLimiter(100)])
    # 10 items, 9 children each: 100 objects, at the cap.
    fits = schema.execute_sync("{ items(count: 10) { id children(count: 9) { id } } }")
    assert fits.errors is None
    assert fits.data is not None
    assert len(fits.data["items"]) == 10
    over = schema.execute_sync("{ items(count: 10) { id children(count: 10) { id } } }")
    assert over.data is None
    assert over.errors is not None
    assert [e.extensions for e in over.errors] == [{"code": "RESULT_TOO_LARGE"}]


# ------------------------------------------------------------------ router queries fit
def _documents(node: PlanNode) -> Iterator[tuple[str, str]]:
    if isinstance(node, FetchNode):
        yield node.fetch.service, node.fetch.document
    elif isinstance(node, BatchNode):
        yield node.fetches[0].service, node.request(node.fetches).document
    else:
        for child in getattr(node, "nodes", ()):
            yield from _documents(child)


def _planned(supergraph: Path, operations: list[Path]) -> list[tuple[str, str, str]]:
    graph = Supergraph(supergraph.read_text(encoding="utf-8"))
    out: list[tuple[str, str, str]] = []
    for path in operations:
        document = parse(path.read_text(encoding="utf-8"))
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        for operation in document.definitions:
            if not isinstance(operation, OperationDefinitionNode):
                continue
            plan = PlanBuilder(graph, operation, fragments, {}).build()
            name = operation.name.value if operation.name else "-"
            for step in plan.steps:
                out.extend((name, *found) for found in _documents(step.node))
    return out


def test_every_query_the_router_sends_for_client_operations_fits_the_limits() -> None:
    planned = _planned(
        REPO / "supergraph.graphql", sorted((REPO / "clients" / "operations").glob("*.graphql"))
    )
    assert len(planned) > 30
    for operation, subgraph, document in planned:
        schema = importlib.import_module(f"subgraphs.{subgraph}.schema").schema
        errors = validate(schema._schema, parse(document, max_tokens=MAX_TOKENS), LIMIT_RULES)
        assert not errors, (operation, subgraph, document, errors)


def test_the_benchmark_testquery_fits_the_limits_with_margin() -> None:
    """The bench subgraphs are not ours; the limits apply to the shape of what is sent."""
    planned = _planned(REPO / "bench" / "supergraph.graphql", [REPO / "bench" / "query.graphql"])
    depth_rule, alias_rule = LIMIT_RULES
    for _, _, document in planned:
        parsed = parse(document, max_tokens=MAX_TOKENS // 10)
        # Validated against an empty schema only for the shape rules' verdicts.
        schema = strawberry.Schema(_Query)._schema
        shape = [e.message for e in validate(schema, parsed, [depth_rule, alias_rule])]
        assert shape == [], document
