"""Query plans made visible: `coursegraph router plan`, the `X-Coursegraph-Plan: 1`
request header (development only, unless configured) and GraphiQL's plan panel."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from coursegraph.settings import Environment
from router.cli import router_command
from tests.e2e.browser import devtools
from tests.router.conftest import RouterFactory, router_settings

GRAPHS = Path(__file__).parent / "graphs"
PARTIAL = GRAPHS / "partial_union_complex" / "supergraph.graphql"
HOP = "{ rootA { bWrapper { actions { __typename ... on OnlyB { b } } } } }"
HTML = {"accept": "text/html,*/*"}
PLAN_KEY = "x-coursegraph-plan"
PLAN = {PLAN_KEY: "1"}
QUERY = '{ product(upc: "1") { name inStock } }'


def _plan(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(router_command, ["plan", *args], input=stdin)
    return result.exit_code, result.output


def test_cli_prints_the_plan_readably(tmp_path: Path) -> None:
    query = tmp_path / "hop.graphql"
    query.write_text(HOP, encoding="utf-8")
    code, output = _plan("--supergraph", str(PARTIAL), "--query", str(query))
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0] == "QueryPlan {"
    assert lines[1] == "  Sequence {"
    assert lines[2] == '    Fetch(service: "a") {'
    assert '    Flatten(path: "rootA") {' in lines
    assert '      Fetch(service: "b") {' in lines
    assert "        { ... on Container { __typename id } } =>" in lines
    # The operation b receives, pretty-printed.
    assert "          _entities(representations: $representations) {" in lines
    assert lines[-1] == "# 2 fetches, 2 subgraph requests"


def test_cli_json_is_the_extension_shape_and_reads_stdin() -> None:
    code, output = _plan("--supergraph", str(PARTIAL), "--query", "-", "--json", stdin=HOP)
    assert code == 0, output
    plan = json.loads(output)
    assert plan["kind"] == "QueryPlan"
    fetch, flatten = plan["node"]["nodes"]
    assert fetch["serviceName"] == "a"
    assert flatten == {
        "kind": "Flatten",
        "path": ["rootA"],
        "node": {
            "kind": "Fetch",
            "serviceName": "b",
            "variableUsages": [],
            "operation": flatten["node"]["operation"],
            "operationKind": "query",
            "requires": ["Container"],
        },
    }
    assert "...on OnlyB{__typename b}" in flatten["node"]["operation"]


def test_cli_variables_decide_skip_and_include() -> None:
    query = "query Q($hop: Boolean!) { rootA { id bWrapper @include(if: $hop) { __typename } } }"
    args = ("--supergraph", str(PARTIAL), "--query", "-", "--operation-name", "Q")
    code, without = _plan(*args, "--variables", '{"hop": false}', stdin=query)
    assert code == 0, without
    assert "Flatten" not in without
    code, with_hop = _plan(*args, "--variables", '{"hop": true}', stdin=query)
    assert code == 0, with_hop
    assert 'Flatten(path: "rootA")' in with_hop


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        ((), "{ rootA { nope } }", "GRAPHQL_VALIDATION_FAILED: Cannot query field 'nope'"),
        ((), "{ rootA { id ", "GRAPHQL_PARSE_FAILED"),
        (("--variables", "[1]"), "{ rootA { id } }", "must be a JSON object"),
        (("--variables", "{"), "{ rootA { id } }", "not JSON"),
        (
            ("--variables", '{"x": 3}'),
            "query($x: Boolean!) { rootA { id @skip(if: $x) } }",
            "BAD_USER_INPUT",
        ),
        (("--operation-name", "B"), "query A { rootA { id } }", "Unknown operation named 'B'"),
    ],
)
def test_cli_refuses_bad_operations(args: tuple[str, ...], stdin: str, message: str) -> None:
    code, output = _plan("--supergraph", str(PARTIAL), "--query", "-", *args, stdin=stdin)
    assert code != 0
    assert message in output


def test_cli_without_a_supergraph(tmp_path: Path) -> None:
    missing = tmp_path / "none.graphql"
    code, output = _plan("--supergraph", str(missing), "--query", "-", stdin="{ a }")
    assert code != 0
    assert "no supergraph to plan against" in output


def test_header_returns_the_plan_in_development(
    serve_router: RouterFactory,
) -> None:
    url = serve_router(settings=router_settings(environment=Environment.DEVELOPMENT))
    body = httpx.post(f"{url}/graphql", json={"query": QUERY}, headers=PLAN).json()
    assert body["data"] == {"product": {"name": "Table", "inStock": True}}
    plan = body["extensions"]["queryPlan"]
    assert [n["kind"] for n in plan["node"]["nodes"]] == ["Fetch", "Flatten"]
    text = body["extensions"]["queryPlanText"]
    assert text.startswith("QueryPlan {\n  Sequence {\n")
    assert 'Fetch(service: "inventory")' in text
    # Opt-in: without the header, or with another value, the answer has no plan.
    plain = httpx.post(f"{url}/graphql", json={"query": QUERY}).json()
    assert "extensions" not in plain
    other = httpx.post(f"{url}/graphql", json={"query": QUERY}, headers={PLAN_KEY: "yes"})
    assert "extensions" not in other.json()
    # GET queries too.
    got = httpx.get(
        f"{url}/graphql",
        params={"query": QUERY},
        headers={**PLAN, "apollo-require-preflight": "true"},
    ).json()
    assert got["extensions"]["queryPlan"] == plan


@pytest.mark.parametrize(
    ("environment", "expose", "configured", "answered"),
    [
        (Environment.TEST, False, None, False),  # null: development only
        (Environment.TEST, False, True, True),
        (Environment.DEVELOPMENT, False, False, False),
        (Environment.PRODUCTION, False, True, False),  # never without the explicit setting
        (Environment.PRODUCTION, True, True, True),
        (Environment.PRODUCTION, True, None, False),
    ],
)
def test_header_is_answered_only_where_allowed(
    serve_router: RouterFactory,
    environment: Environment,
    expose: bool,
    configured: bool | None,
    answered: bool,
) -> None:
    settings = router_settings(environment=environment, router_expose_schema_in_production=expose)
    url = serve_router(settings=settings, debug={"query_plan_header": configured})
    response = httpx.post(f"{url}/graphql", json={"query": QUERY}, headers=PLAN)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"product": {"name": "Table", "inStock": True}}
    assert ("extensions" in body) is answered


def test_errors_before_planning_carry_no_plan(
    serve_router: RouterFactory,
) -> None:
    url = serve_router(settings=router_settings(environment=Environment.DEVELOPMENT))
    body = httpx.post(f"{url}/graphql", json={"query": "{ nope }"}, headers=PLAN).json()
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "extensions" not in body


def test_cors_preflight_allows_the_header(
    serve_router: RouterFactory,
) -> None:
    url = serve_router(settings=router_settings(environment=Environment.DEVELOPMENT))
    response = httpx.options(
        f"{url}/graphql",
        headers={
            "origin": "http://localhost:5173",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,x-coursegraph-plan",
        },
    )
    assert response.status_code == 200
    assert PLAN_KEY in response.headers["access-control-allow-headers"].lower()


def _options(page: str) -> dict[str, object]:
    start = page.index("const options = ") + len("const options = ")
    options: dict[str, object] = json.JSONDecoder().raw_decode(page[start:])[0]
    return options


def test_graphiql_shows_a_plan_panel_where_the_header_is_answered(
    serve_router: RouterFactory,
) -> None:
    development = router_settings(environment=Environment.DEVELOPMENT)
    page = httpx.get(f"{serve_router(settings=development)}/graphql", headers=HTML).text
    assert _options(page)["planPanel"] is True
    assert 'title: "Query plan"' in page
    off_url = serve_router(settings=development, debug={"query_plan_header": False})
    off = httpx.get(f"{off_url}/graphql", headers=HTML)
    assert _options(off.text)["planPanel"] is False


async def test_graphiql_panel_shows_the_plan_in_a_browser(
    serve_router: RouterFactory, tmp_path: Path
) -> None:
    """Headless Chromium (skipped without one): run an operation with the panel open; the
    panel shows its plan and the response pane shows only the answer."""
    url = serve_router(settings=router_settings(environment=Environment.DEVELOPMENT))
    # The panel opens where GraphiQL remembers it was left.
    setup = "localStorage.setItem('graphiql:visiblePlugin', 'Query plan');"
    editor = "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror"
    async with devtools(tmp_path / "profile", f"{url}/graphql") as page:
        await page.wait_for("document.querySelector('.graphiql-container') !== null")
        await page.evaluate(f"{setup} location.reload(); true")
        await page.wait_for("document.querySelector('.coursegraph-plan') !== null")
        await page.evaluate(f"{editor}.setValue({json.dumps(QUERY)}); true")
        await page.wait_for(
            "document.querySelector('.graphiql-execute-button').click() ||"
            " (document.querySelector('.coursegraph-plan pre') || {}).textContent"
        )
        panel = await page.evaluate("document.querySelector('.coursegraph-plan pre').textContent")
        answer = await page.wait_for(
            "document.querySelector('.result-window').textContent.includes('Table')"
            " && document.querySelector('.result-window').textContent"
        )
    assert panel.startswith("QueryPlan {")
    assert 'Fetch(service: "inventory")' in panel
    assert "Table" in answer
    assert "queryPlan" not in answer
