"""`@defer` through the router: the API schema declares it, plans show deferred blocks as
Apollo's planner prints them, and a client that accepts `multipart/mixed;deferSpec=20220824`
gets the primary part first and each deferred part as its own incremental payload, in Apollo
Router's bytes; any other client gets the whole answer as JSON."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from graphql import GraphQLError
from starlette.applications import Starlette

from coursegraph.settings import Environment
from router.cli import router_command
from router.incremental import accepts_incremental
from tests.e2e.browser import devtools
from tests.router.conftest import AppHost, RouterFactory, Stack, make_token, router_settings
from tests.router.graphs.basic import RESOLVERS as RESOLVERS_BY_GRAPH
from tests.router.graphs.basic import STOCK
from tests.router.graphs.loader import load_graph
from tests.router.subgraph_kit import SubgraphApp, build_subgraph_schema

ACCEPT = {"accept": "multipart/mixed;deferSpec=20220824, application/json"}
CONTENT_TYPE = 'multipart/mixed;boundary="graphql";deferSpec=20220824'
PLAN = {"x-coursegraph-plan": "1"}
BASIC = Path(__file__).parent / "graphs" / "basic" / "supergraph.graphql"


def parts(body: bytes) -> list[dict[str, Any]]:
    """The JSON parts of a multipart/mixed body, read by the standard library's MIME parser
    (so the framing is checked against RFC 2046, not against our own writer)."""
    head = b'Content-Type: multipart/mixed; boundary="graphql"\r\n\r\n'
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    assert message.is_multipart()
    out = []
    for part in message.iter_parts():
        assert part.get_content_type() == "application/json"
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        out.append(json.loads(payload))
    return out


def deferred(
    stack: Stack, query: str, variables: dict[str, Any] | None = None, **headers: str
) -> httpx.Response:
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    return stack.post("basic", body, **ACCEPT, **headers)


# ------------------------------------------------------------------ schema and negotiation
def test_the_api_schema_declares_defer(stack: Stack) -> None:
    query = (
        "{ __schema { directives { name locations"
        " args { name type { kind name ofType { name } } defaultValue } } } }"
    )
    directives = stack.query("basic", query)["data"]["__schema"]["directives"]
    defer = next(d for d in directives if d["name"] == "defer")
    assert sorted(defer["locations"]) == ["FRAGMENT_SPREAD", "INLINE_FRAGMENT"]
    args = {a["name"]: a for a in defer["args"]}
    assert args["if"]["type"] == {"kind": "NON_NULL", "name": None, "ofType": {"name": "Boolean"}}
    assert args["if"]["defaultValue"] == "true"
    assert args["label"]["type"]["name"] == "String"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("multipart/mixed;deferSpec=20220824, application/json", True),
        ("application/json, multipart/mixed; deferSpec=20220824", True),
        ('multipart/mixed; deferSpec="20220824"', True),
        ("multipart/mixed", False),  # Apollo Router wants the spec parameter
        ("multipart/mixed;subscriptionSpec=1.0", False),
        ("application/json", False),
        ("", False),
    ],
)
def test_accept_header(accept: str, expected: bool) -> None:
    assert accepts_incremental(accept) is expected


def test_labels_must_be_unique_and_defer_stays_off_mutation_roots(stack: Stack) -> None:
    twice = '{ me { ... @defer(label: "a") { name } ... @defer(label: "a") { username } } }'
    answer = stack.post("basic", {"query": twice}, **ACCEPT)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    # Mutations run in order: their root fields cannot be deferred (graphql-core's rule).
    root = 'mutation { ... @defer { renameMe(name: "x") { id } } }'
    answer = stack.post("secure", {"query": root}, **ACCEPT)
    assert answer.status_code == 400
    assert "Defer directive cannot be used on root mutation type" in answer.text


# ------------------------------------------------------------------ plans
def plan_text(stack: Stack, query: str) -> str:
    answer = stack.post("basic", {"query": query}, **ACCEPT, **PLAN)
    assert answer.headers["content-type"] == CONTENT_TYPE
    text: str = parts(answer.content)[0]["extensions"]["queryPlanText"]
    return text


def test_plan_of_a_defer_to_another_subgraph(stack: Stack) -> None:
    text = plan_text(stack, '{ me { name ... @defer(label: "r") { reviews { body } } } }')
    assert text == "\n".join(
        [
            "QueryPlan {",
            "  Defer {",
            "    Primary {",
            "      { me { name } }:",
            '      Fetch(service: "accounts", id: 0) {',
            "        {",
            "          me {",
            "            name",
            "            id",
            "            __typename",
            "          }",
            "        }",
            "      },",
            "    }, [",
            '      Deferred(depends: [0], path: "me", label: "r") {',
            "        { reviews { body } }:",
            '        Flatten(path: "me") {',
            '          Fetch(service: "reviews") {',
            "            { ... on User { __typename id } } =>",
            "            query ($representations: [_Any!]!) {",
            "              _entities(representations: $representations) {",
            "                ... on User {",
            "                  reviews {",
            "                    body",
            "                  }",
            "                }",
            "              }",
            "            }",
            "          },",
            "        },",
            "      },",
            "    ]",
            "  },",
            "}",
            "# 2 fetches, 2 subgraph requests",
        ]
    )


def test_plan_of_a_defer_in_the_same_subgraph_is_its_own_fetch(stack: Stack) -> None:
    # As Apollo's "@defer resuming in same subgraph": the key comes with the primary part,
    # the deferred field from an `_entities` fetch back to the same subgraph.
    text = plan_text(stack, "{ me { name ... @defer { username } } }")
    assert '      Fetch(service: "accounts", id: 0) {' in text
    assert '      Deferred(depends: [0], path: "me") {' in text
    assert "        { username }:" in text
    deferred_part = text.split("Deferred(")[1]
    assert 'Fetch(service: "accounts")' in deferred_part
    assert "_entities(representations: $representations)" in deferred_part
    primary_part = text.split("Deferred(")[0]
    assert "username" not in primary_part.split("Fetch(")[1]


def test_plan_of_nested_defers_in_a_list(stack: Stack) -> None:
    text = plan_text(
        stack,
        "{ topProducts { name ... @defer { inStock shippingEstimate"
        ' ... @defer(label: "inner") { reviews { body author { name } } } } } }',
    )
    lines = text.splitlines()
    assert lines[1:4] == ["  Defer {", "    Primary {", "      { topProducts { name } }:"]
    assert '      Deferred(depends: [0], path: "topProducts.@") {' in lines
    # The outer block holds a Defer of its own for the nested fragment.
    assert "        Defer {" in lines
    assert "            { inStock shippingEstimate }:" in lines
    assert '            Deferred(depends: [0], path: "topProducts.@", label: "inner") {' in lines
    assert '                Flatten(path: "topProducts.@.reviews.@.author") {' in lines
    assert lines[-1] == "# 4 fetches, 4 subgraph requests"


def test_cli_plans_deferred_blocks() -> None:
    result = CliRunner().invoke(
        router_command,
        ["plan", "--supergraph", str(BASIC), "--query", "-"],
        input="{ me { name ... @defer { username } } }",
    )
    assert result.exit_code == 0, result.output
    assert '      Deferred(depends: [0], path: "me") {' in result.output.splitlines()


def test_plan_json_is_apollos_defer_node(stack: Stack) -> None:
    answer = stack.post(
        "basic",
        {"query": '{ me { name ... @defer(label: "r") { reviews { body } } } }'},
        **ACCEPT,
        **PLAN,
    )
    node = parts(answer.content)[0]["extensions"]["queryPlan"]["node"]
    assert node["kind"] == "Defer"
    assert node["primary"]["subselection"] == "{ me { name } }"
    assert node["primary"]["node"]["kind"] == "Fetch"
    assert node["primary"]["node"]["id"] == "0"
    [block] = node["deferred"]
    assert block["depends"] == [{"id": "0"}]
    assert block["label"] == "r"
    assert block["queryPath"] == ["me"]
    assert block["subselection"] == "{ reviews { body } }"
    assert block["node"]["kind"] == "Flatten"


def test_defer_if_false_is_not_deferred(stack: Stack) -> None:
    query = "query($d: Boolean!) { me { name ... @defer(if: $d) { username } } }"
    answer = deferred(stack, query, {"d": False})
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == {"data": {"me": {"name": "Ada Lovelace", "username": "@ada"}}}
    answer = deferred(stack, query, {"d": True})
    assert answer.headers["content-type"] == CONTENT_TYPE
    assert [p.get("hasNext") for p in parts(answer.content)] == [True, False]


# ------------------------------------------------------------------ responses
def test_response_bytes_are_apollo_routers(stack: Stack) -> None:
    answer = deferred(stack, '{ me { name ... @defer(label: "r") { reviews { body } } } }')
    assert answer.status_code == 200
    assert answer.headers["content-type"] == CONTENT_TYPE
    primary = b'{"data":{"me":{"name":"Ada Lovelace"}},"hasNext":true}'
    rest = (
        b'{"hasNext":false,"incremental":[{"data":{"reviews":[{"body":"Love it!"},'
        b'{"body":"Could be better."}]},"path":["me"],"label":"r"}]}'
    )
    assert answer.content == (
        b"\r\n--graphql\r\ncontent-type: application/json\r\n\r\n" + primary + b"\r\n--graphql"
        b"\r\ncontent-type: application/json\r\n\r\n" + rest + b"\r\n--graphql--\r\n"
    )


def test_without_multipart_the_answer_comes_whole(stack: Stack) -> None:
    query = '{ me { name ... @defer(label: "r") { reviews { body } } } }'
    expected = {
        "data": {
            "me": {
                "name": "Ada Lovelace",
                "reviews": [{"body": "Love it!"}, {"body": "Could be better."}],
            }
        }
    }
    for accept in ("application/json", "multipart/mixed", "*/*"):
        answer = stack.post("basic", {"query": query}, accept=accept)
        assert answer.headers["content-type"].startswith("application/json")
        assert answer.json() == expected
    # A query without @defer is plain JSON whatever the client accepts.
    plain = stack.post("basic", {"query": "{ me { name } }"}, **ACCEPT)
    assert plain.headers["content-type"].startswith("application/json")
    assert plain.json() == {"data": {"me": {"name": "Ada Lovelace"}}}


def test_defer_in_a_list_gives_one_item_per_element(stack: Stack) -> None:
    answer = deferred(
        stack,
        '{ topProducts(first: 2) { upc ... @defer(label: "s") { inStock shippingEstimate } } }',
    )
    first, last = parts(answer.content)
    assert first == {"data": {"topProducts": [{"upc": "1"}, {"upc": "2"}]}, "hasNext": True}
    assert last == {
        "hasNext": False,
        "incremental": [
            {
                "data": {"inStock": True, "shippingEstimate": 50},
                "path": ["topProducts", 0],
                "label": "s",
            },
            {
                "data": {"inStock": False, "shippingEstimate": 0},
                "path": ["topProducts", 1],
                "label": "s",
            },
        ],
    }


def test_nested_defers_follow_their_parent(stack: Stack) -> None:
    answer = deferred(
        stack,
        '{ review(id: "r2") { body ... @defer(label: "outer") { product { name'
        ' ... @defer(label: "inner") { inStock } } } } }',
    )
    first, outer, inner = parts(answer.content)
    assert first == {"data": {"review": {"body": "Too expensive."}}, "hasNext": True}
    assert outer == {
        "hasNext": True,
        "incremental": [
            {"data": {"product": {"name": "Couch"}}, "path": ["review"], "label": "outer"}
        ],
    }
    assert inner == {
        "hasNext": False,
        "incremental": [
            {"data": {"inStock": False}, "path": ["review", "product"], "label": "inner"}
        ],
    }


def test_router_keys_never_clash_with_client_aliases(stack: Stack) -> None:
    answer = deferred(stack, "{ me { id: name ... @defer { username } } }")
    assert parts(answer.content) == [
        {"data": {"me": {"id": "Ada Lovelace"}}, "hasNext": True},
        {"hasNext": False, "incremental": [{"data": {"username": "@ada"}, "path": ["me"]}]},
    ]


def test_defer_on_abstract_types_and_named_fragments(stack: Stack) -> None:
    query = (
        '{ library { title ... on Book @defer(label: "pages") { pages } ...Views @defer } }'
        " fragment Views on Media { views }"
    )
    answer = stack.post("interfaces", {"query": query}, **ACCEPT)
    first, *rest = parts(answer.content)
    assert first == {
        "data": {"library": [{"title": "Dune"}, {"title": "Alien"}, {"title": "Emma"}]},
        "hasNext": True,
    }
    assert [p["hasNext"] for p in rest] == [True, False]
    items = sorted(
        (json.dumps(item, sort_keys=True) for p in rest for item in p["incremental"]),
    )
    assert items == sorted(
        json.dumps(item, sort_keys=True)
        for item in [
            {"data": {"pages": 412}, "path": ["library", 0], "label": "pages"},
            {"data": {"pages": 474}, "path": ["library", 2], "label": "pages"},
            {"data": {"views": 1000}, "path": ["library", 0]},
            {"data": {"views": 2500}, "path": ["library", 1]},
            {"data": {"views": 10}, "path": ["library", 2]},
        ]
    )


def test_defer_on_the_root(stack: Stack) -> None:
    answer = deferred(
        stack, '{ me { name } ... @defer(label: "top") { topProducts(first: 1) { name } } }'
    )
    assert parts(answer.content) == [
        {"data": {"me": {"name": "Ada Lovelace"}}, "hasNext": True},
        {
            "hasNext": False,
            "incremental": [
                {"data": {"topProducts": [{"name": "Table"}]}, "path": [], "label": "top"}
            ],
        },
    ]


def test_a_null_parent_has_nothing_deferred(stack: Stack) -> None:
    answer = deferred(stack, '{ review(id: "none") { body ... @defer { product { name } } } }')
    assert parts(answer.content) == [
        {"data": {"review": None}, "hasNext": True},
        {"hasNext": False},
    ]


# ------------------------------------------------------------------ errors, limits, ordering
def test_errors_of_a_deferred_part_land_in_it(serve_router: RouterFactory, stack: Stack) -> None:
    # Inventory is down: the primary part is whole, the deferred one carries the error and
    # its fields read as null.
    url = serve_router(
        subgraphs={"inventory": {"url": "http://127.0.0.1:9/graphql"}},
        traffic={"retry": {"attempts": 0}},
    )
    answer = httpx.post(
        f"{url}/graphql",
        json={"query": '{ product(upc: "1") { name ... @defer(label: "stock") { inStock } } }'},
        headers=ACCEPT,
    )
    first, last = parts(answer.content)
    assert first == {"data": {"product": {"name": "Table"}}, "hasNext": True}
    [item] = last["incremental"]
    assert item["data"] == {"inStock": None}
    assert item["path"] == ["product"]
    assert [e["extensions"]["code"] for e in item["errors"]] == ["SERVICE_UNAVAILABLE"]
    assert last["hasNext"] is False


def test_a_null_in_a_non_null_deferred_field_nulls_the_item(
    serve_router: RouterFactory, app_host: AppHost
) -> None:
    # Review.body is non-null; this reviews subgraph fails it, so its `_entities` item is
    # null with the error: the deferred item's data is null, the primary part untouched.
    def body(*_: Any) -> str:
        raise GraphQLError("The review body is unavailable.")

    reviews = RESOLVERS_BY_GRAPH["reviews"]
    resolvers = {**reviews, "Review": {**reviews["Review"], "body": body}}
    app = SubgraphApp(build_subgraph_schema(load_graph("basic").subgraphs["reviews"], resolvers))
    base, mount = app_host.mount(Starlette(routes=app.routes("")))
    try:
        url = serve_router(subgraphs={"reviews": {"url": f"{base}/graphql"}})
        answer = httpx.post(
            f"{url}/graphql",
            json={"query": '{ review(id: "r1") { id ... @defer(label: "b") { body } } }'},
            headers=ACCEPT,
        )
    finally:
        app_host.unmount(mount)
    first, last = parts(answer.content)
    assert first == {"data": {"review": {"id": "r1"}}, "hasNext": True}
    [item] = last["incremental"]
    assert item["data"] is None
    assert item["path"] == ["review"]
    assert item["label"] == "b"
    [error] = item["errors"]
    assert error["message"] == "The review body is unavailable."
    assert error["path"] == ["review", "body"]
    assert error["extensions"]["serviceName"] == "reviews"


def test_authorization_inside_a_deferred_fragment(serve_router: RouterFactory) -> None:
    url = serve_router("secure", authenticated=True)
    token = make_token(role="STUDENT", scope="")
    query = '{ me { id ... @defer(label: "private") { email } } }'
    answer = httpx.post(
        f"{url}/graphql",
        json={"query": query},
        headers={**ACCEPT, "authorization": f"Bearer {token}"},
    )
    first, last = parts(answer.content)
    assert "errors" not in first
    [item] = last["incremental"]
    assert item["label"] == "private"
    assert [e["path"] for e in item["errors"]] == [["me", "email"]]


def test_deferred_parts_count_towards_the_response_limit(serve_router: RouterFactory) -> None:
    url = serve_router(limits={"max_response_objects": 3})
    answer = httpx.post(
        f"{url}/graphql",
        json={"query": "{ me { name ... @defer { reviews { body author { name } } } } }"},
        headers=ACCEPT,
    )
    first, last = parts(answer.content)
    assert first == {"data": {"me": {"name": "Ada Lovelace"}}, "hasNext": True}
    assert last["hasNext"] is False
    [item] = last["incremental"]
    assert item["data"] is None
    assert item["errors"][0]["extensions"]["code"] == "COST_ACTUAL_TOO_EXPENSIVE"


def test_limits_count_deferred_fields(serve_router: RouterFactory) -> None:
    # The same estimate as without @defer (tests/router/test_limits.py): 20 x 11 = 220.
    url = serve_router(limits={"max_cost": 200, "default_list_size": 10, "max_depth": 3})
    for query, code in [
        (
            "{ topProducts(first: 20) { name ... @defer { reviews { id } } } }",
            "COST_ESTIMATED_TOO_EXPENSIVE",
        ),
        ("{ me { ... @defer { reviews { author { name } } } } }", "MAX_DEPTH_LIMIT"),
    ]:
        answer = httpx.post(f"{url}/graphql", json={"query": query}, headers=ACCEPT)
        assert answer.status_code == 400
        assert answer.json()["errors"][0]["extensions"]["code"] == code


def test_the_deferred_part_arrives_after_the_primary(
    serve_router: RouterFactory, app_host: AppHost
) -> None:
    """Inventory's resolver waits until the test has read the primary part: if the router
    held the primary back until everything was fetched, the gate would time out first."""
    gate = threading.Event()
    released: list[bool] = []

    async def in_stock(obj: dict[str, Any], _: Any) -> bool | None:
        opened = await asyncio.get_running_loop().run_in_executor(None, gate.wait, 10)
        released.append(opened)
        return STOCK.get(obj["upc"])

    resolvers = {"Product": {**RESOLVERS_BY_GRAPH["inventory"]["Product"], "inStock": in_stock}}
    sdl = load_graph("basic").subgraphs["inventory"]
    app = SubgraphApp(build_subgraph_schema(sdl, resolvers))
    base, mount = app_host.mount(Starlette(routes=app.routes("")))
    try:
        url = serve_router(
            subgraphs={"inventory": {"url": f"{base}/graphql", "timeout_seconds": 20}}
        )
        query = '{ product(upc: "1") { name ... @defer { inStock } } }'
        received = b""
        with httpx.stream(
            "POST", f"{url}/graphql", json={"query": query}, headers=ACCEPT, timeout=30
        ) as answer:
            chunks = answer.iter_bytes()
            while b'"hasNext":true' not in received:
                received += next(chunks)
            assert b"inStock" not in received
            gate.set()
            for chunk in chunks:
                received += chunk
        assert released == [True]
        first, last = parts(received)
        assert first == {"data": {"product": {"name": "Table"}}, "hasNext": True}
        assert last["incremental"] == [{"data": {"inStock": True}, "path": ["product"]}]
    finally:
        gate.set()
        app_host.unmount(mount)


async def test_graphiql_shows_the_deferred_parts(
    serve_router: RouterFactory, tmp_path: Path
) -> None:
    """Headless Chromium (skipped without one): GraphiQL asks for multipart, reads the parts
    and shows the merged answer; the plan panel gets the deferred plan."""
    url = serve_router(settings=router_settings(environment=Environment.DEVELOPMENT))
    setup = "localStorage.setItem('graphiql:visiblePlugin', 'Query plan');"
    editor = "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror"
    query = '{ me { name ... @defer(label: "r") { reviews { body } } } }'
    async with devtools(tmp_path / "profile", f"{url}/graphql") as page:
        await page.wait_for("document.querySelector('.graphiql-container') !== null")
        await page.evaluate(f"{setup} location.reload(); true")
        await page.wait_for("document.querySelector('.coursegraph-plan') !== null")
        await page.evaluate(f"{editor}.setValue({json.dumps(query)}); true")
        # Once the editor has parsed the operation (the button is labelled), click once:
        # while a multipart answer streams the same button stops it.
        await page.wait_for(f"{editor}.getValue().includes('@defer')")
        await asyncio.sleep(0.5)
        await page.evaluate("document.querySelector('.graphiql-execute-button').click(); true")
        answer = await page.wait_for(
            "document.querySelector('.result-window').textContent.includes('Could be better')"
            " && document.querySelector('.result-window').textContent"
        )
        panel = await page.evaluate("document.querySelector('.coursegraph-plan pre').textContent")
    assert "Ada Lovelace" in answer
    assert "Love it!" in answer
    assert "queryPlan" not in answer
    assert 'Deferred(depends: [0], path: "me", label: "r")' in panel
