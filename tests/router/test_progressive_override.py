"""Progressive @override, executed (the `labels` graph): each Item field moves from old
(answers 1, "old") to new (2, "new") behind its own label. `percent(0)` never moves,
`percent(100)` always, `percent(50)` per request; a named label moves when router.yaml
turns it on; outside production `X-Coursegraph-Override-Labels` fixes the decision."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import httpx
from click.testing import CliRunner

from coursegraph.identity import Viewer
from coursegraph.settings import Environment
from router.api_schema import build_api_schema
from router.checks import OperationCheck, Restriction
from router.cli import router_command
from router.config import ProgressiveOverrideConfig
from router.operation import Operations
from router.override import OverrideLabels
from router.prepared import PreparedOperation
from router.supergraph import Supergraph
from tests.router.conftest import SETTINGS, RouterFactory, Stack, router_settings
from tests.router.graphs.loader import GRAPHS, load_graph

QUERY = '{ item(id: "i1") { name rating price flag } }'
HEADER = "X-Coursegraph-Override-Labels"


def _item(url: str, query: str = QUERY, **headers: str) -> dict[str, object]:
    response = httpx.post(f"{url}/graphql", json={"query": query}, headers=headers, timeout=10)
    item: dict[str, object] = response.json()["data"]["item"]
    return item


def test_zero_and_hundred_percent_and_labels_off_by_default(stack: Stack) -> None:
    stack.reset()
    result = stack.query("labels", QUERY)
    assert result == {"data": {"item": {"name": "Widget", "rating": 1, "price": 2, "flag": "old"}}}
    # new answered only price (percent(100)); old everything else.
    entities = [r["query"] for r in stack.requests("labels", "new")]
    assert entities == [
        "query($representations:[_Any!]!)"
        "{_entities(representations:$representations){...on Item{price}}}"
    ]


def test_the_header_fixes_the_decision_per_request_and_plans_follow(stack: Stack) -> None:
    query = '{ item(id: "i1") { stock rating price } }'
    on = {"item": {"stock": 2, "rating": 2, "price": 1}}
    off = {"item": {"stock": 1, "rating": 1, "price": 1}}
    # Alternating: a plan cached for one set of labels never answers for the other.
    for _ in range(2):
        answer = stack.post("labels", {"query": query}, **{HEADER: "percent(50), percent(0)"})
        assert answer.json() == {"data": on}
        assert stack.post("labels", {"query": query}, **{HEADER: ""}).json() == {"data": off}


def test_streaming_transports_read_the_header_too(stack: Stack) -> None:
    """An operation sent over SSE goes through the subscription endpoints' admission
    (router/subscriptions/): the header fixes the decision there as well."""
    query = '{ item(id: "i1") { stock } }'
    for labels, stock in (("percent(50)", 2), ("", 1)):
        answer = stack.post(
            "labels", {"query": query}, accept="text/event-stream", **{HEADER: labels}
        )
        assert answer.headers["content-type"].startswith("text/event-stream")
        assert f'data: {{"data":{{"item":{{"stock":{stock}}}}}}}' in answer.text


def test_a_field_the_old_side_still_uses_moves_with_its_label(stack: Stack) -> None:
    """old keeps `name` (it implements an interface there: usedOverridden) and still
    resolves it while `rename` is off."""
    query = '{ item(id: "i1") { name } }'
    assert stack.query("labels", query) == {"data": {"item": {"name": "Widget"}}}
    moved = stack.post("labels", {"query": query}, **{HEADER: "rename"}).json()
    assert moved == {"data": {"item": {"name": "Widget 2"}}}


def test_named_labels_are_turned_on_by_config(serve_router: RouterFactory) -> None:
    url = serve_router("labels", progressive_override={"labels": ["beta"]})
    assert _item(url)["flag"] == "new"
    # Unknown labels in the config change nothing.
    url = serve_router("labels", progressive_override={"labels": ["gamma"]})
    assert _item(url)["flag"] == "old"


def test_production_ignores_the_header(serve_router: RouterFactory) -> None:
    production = router_settings(
        environment=Environment.PRODUCTION, router_expose_schema_in_production=False
    )
    url = serve_router("labels", settings=production)
    assert _item(url, **{HEADER: "percent(0),beta"}) == {
        "name": "Widget",
        "rating": 1,
        "price": 2,
        "flag": "old",
    }


def test_percent_labels_are_drawn_per_request() -> None:
    supergraph = Supergraph(load_graph("labels").supergraph)
    assert supergraph.override_labels == {
        "percent(50)",
        "percent(0)",
        "percent(100)",
        "beta",
        "rename",
    }

    def active(draw: float) -> frozenset[str]:
        config = ProgressiveOverrideConfig()
        return OverrideLabels(supergraph, config, SETTINGS, draw=lambda: draw).active(None)

    assert active(0.0) == {"percent(50)", "percent(100)"}
    assert active(0.4999) == {"percent(50)", "percent(100)"}
    assert active(0.5) == {"percent(100)"}
    assert active(0.99999) == {"percent(100)"}


def test_a_request_header_outside_the_labels_turns_nothing_on() -> None:
    supergraph = Supergraph(load_graph("labels").supergraph)
    labels = OverrideLabels(supergraph, ProgressiveOverrideConfig(labels=("beta",)), SETTINGS)
    assert labels.active("nonsense, percent(0)") == {"beta", "percent(0)"}
    assert labels.active("") == {"beta"}


def test_the_plan_command_plans_for_the_labels_given() -> None:
    supergraph = str(GRAPHS / "labels" / "supergraph.graphql")
    query = '{ item(id: "i1") { rating } }'

    def services(*labels: str) -> list[str]:
        args = ["plan", "--supergraph", supergraph, "--query", "-", "--json", *labels]
        result = CliRunner().invoke(router_command, args, input=query)
        assert result.exit_code == 0, result.output
        return re.findall(r'"serviceName": "(\w+)"', result.output)

    assert services() == ["old"]
    assert services("--override-labels", "beta, percent(0)") == ["old", "new"]


class _Kept:
    """A restriction that takes nothing out: enough to make a plan per restricted viewer."""

    def apply(self, operation: Any, fragments: Any) -> Any:
        return SimpleNamespace(operation=operation, fragments=fragments, errors=lambda data: [])


class _Restricting(OperationCheck[None]):
    def prepare(self, operation: PreparedOperation) -> None:
        return None

    def restriction(
        self, operation: PreparedOperation, note: None, viewer: Viewer | None
    ) -> Restriction | None:
        return RESTRICTED


RESTRICTED = _Kept()


def test_restricted_viewers_get_a_plan_per_set_of_labels() -> None:
    """The plan cache keys a restricted viewer's plans by the labels on, as everyone's."""
    supergraph = Supergraph(load_graph("labels").supergraph)
    operations = Operations(supergraph, build_api_schema(supergraph), 10, [_Restricting()])
    prepared = operations.prepare('{ item(id: "i1") { price } }', None)
    on = operations.planned(prepared, {}, None, frozenset({"percent(100)"}))
    off = operations.planned(prepared, {}, None, frozenset())
    assert on is not off
    assert on.plan.to_json() != off.plan.to_json()
