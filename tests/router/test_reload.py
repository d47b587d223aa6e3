"""`coursegraph router --config supergraph.yaml`: composed at start-up, hot-reloaded.

Each test gets its own folder with a rover-style supergraph.yaml and schema files for two
of the basic graph's subgraphs, the subgraphs served from their full SDL (their code is
"ahead" of the schema file, as when a developer has not exported the new SDL yet), and a
router built by the CLI's composition root with fast polling.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import GraphQLSchema
from structlog.testing import capture_logs
from structlog.typing import EventDict

from coursegraph.testing import ServerThread
from router.bootstrap import build_app
from router.composition import SubgraphSource, compose
from router.source import LoadError, SupergraphSource
from tests.router.conftest import SETTINGS as ROUTER_SETTINGS
from tests.router.graphs.loader import load_graph
from tests.router.subgraph_kit import SubgraphApp, build_subgraph_schema, subgraph_app

BASIC = load_graph("basic")
ACCOUNTS_FULL = BASIC.subgraphs["accounts"]
# The schema file the router starts from: accounts without `User.name`.
ACCOUNTS_OLD = ACCOUNTS_FULL.replace("  name: String\n", "")
# A change that cannot compose: accounts redefines Product.upc with another type.
ACCOUNTS_BROKEN = ACCOUNTS_FULL + '\ntype Product @key(fields: "upc") {\n  upc: Int!\n}\n'
SETTINGS = """
auth: {verify_tokens: false, sign_subgraph_requests: false}
limits: {cost_extension: false}
"""
WAIT_SECONDS = 5.0
USERS_NAMES = "{ users { name } }"


def _yaml(base: str, accounts_file: bool = True, products_extra: str = "") -> str:
    # Without a schema block the router asks the routing URL for `_service { sdl }`.
    accounts_schema = "    schema: {file: ./accounts.graphql}\n" if accounts_file else ""
    return (
        "federation_version: =2.7.0\n"
        "subgraphs:\n"
        "  accounts:\n"
        f"    routing_url: {base}/accounts/graphql\n"
        f"{accounts_schema}"
        "  products:\n"
        f"    routing_url: {base}/products/graphql\n"
        "    schema: {file: ./products.graphql}\n"
        f"{products_extra}" + SETTINGS
    )


@dataclass
class ReloadStack:
    folder: Path
    subgraphs: dict[str, SubgraphApp]
    subgraph_url: str
    logs: list[EventDict]
    router_url: str = ""
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))

    def query(self, query: str) -> dict[str, Any]:
        result: dict[str, Any] = self.client.post(
            f"{self.router_url}/graphql", json={"query": query}
        ).json()
        return result

    def write(self, name: str, text: str) -> None:
        (self.folder / name).write_text(text, encoding="utf-8")

    def events(self, event: str) -> list[EventDict]:
        return [entry for entry in self.logs if entry["event"] == event]


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_SECONDS}s: {what}")
        time.sleep(0.02)


def _serves_names(stack: ReloadStack) -> bool:
    return stack.query(USERS_NAMES).get("data") is not None


def _accounts_schema(sdl: str) -> GraphQLSchema:
    return build_subgraph_schema(sdl, BASIC.resolvers["accounts"])


@pytest.fixture(scope="module")
def subgraph_server() -> Iterator[tuple[str, dict[str, SubgraphApp]]]:
    apps = {
        name: SubgraphApp(build_subgraph_schema(BASIC.subgraphs[name], BASIC.resolvers[name]))
        for name in ("accounts", "products")
    }
    server = ServerThread(subgraph_app({f"/{name}": app for name, app in apps.items()})).start()
    yield server.url, apps
    server.stop()


@pytest.fixture
def subgraphs(
    subgraph_server: tuple[str, dict[str, SubgraphApp]],
) -> tuple[str, dict[str, SubgraphApp]]:
    """The module's subgraphs, as each test expects to find them."""
    _, apps = subgraph_server
    apps["accounts"].schema = _accounts_schema(ACCOUNTS_FULL)
    for app in apps.values():
        app.delay = 0.0
        app.requests.clear()
    return subgraph_server


def _start(stack: ReloadStack) -> ServerThread:
    source = SupergraphSource(stack.folder / "supergraph.yaml", settings=ROUTER_SETTINGS)
    app = build_app(source, ROUTER_SETTINGS, watch=True, poll_seconds=0.05, sdl_poll_seconds=0.2)
    server = ServerThread(app).start()
    stack.router_url = server.url
    return server


@pytest.fixture
def stack(tmp_path: Path, subgraphs: tuple[str, dict[str, SubgraphApp]]) -> Iterator[ReloadStack]:
    base, apps = subgraphs
    with capture_logs() as logs:
        result = ReloadStack(tmp_path, apps, base, logs)
        result.write("accounts.graphql", ACCOUNTS_OLD)
        result.write("products.graphql", BASIC.subgraphs["products"])
        result.write("supergraph.yaml", _yaml(base))
        server = _start(result)
        yield result
        result.client.close()
        server.stop()


def test_composes_at_start_up(stack: ReloadStack) -> None:
    result = stack.query("{ users { username } topProducts(first: 1) { name } }")
    assert result == {
        "data": {
            "users": [{"username": "@ada"}, {"username": "@complete"}, {"username": "@grace"}],
            "topProducts": [{"name": "Table"}],
        }
    }
    errors = stack.query(USERS_NAMES)["errors"]
    assert errors[0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_schema_file_change_is_served(stack: ReloadStack) -> None:
    stack.write("accounts.graphql", ACCOUNTS_FULL)
    wait_for(lambda: _serves_names(stack), "User.name is queryable")
    assert stack.query(USERS_NAMES)["data"]["users"][0] == {"name": "Ada Lovelace"}
    [reloaded] = stack.events("supergraph reloaded")
    assert reloaded["subgraphs"] == ["accounts", "products"]
    assert reloaded["trigger"] == "files changed"


def test_composition_failure_keeps_the_old_supergraph(stack: ReloadStack) -> None:
    failed = "supergraph reload failed; the previous supergraph keeps serving"
    stack.write("accounts.graphql", ACCOUNTS_BROKEN)
    wait_for(lambda: bool(stack.events(failed)), "the failure is logged")
    [event] = stack.events(failed)
    assert event["log_level"] == "warning"
    assert "composition" in event["reason"]
    assert any("FIELD_TYPE_MISMATCH" in line for line in event["errors"])
    assert not event["retry"]
    assert stack.query("{ users { username } }")["data"]["users"][0] == {"username": "@ada"}
    assert "errors" in stack.query(USERS_NAMES)
    # Fixing the file is noticed like any other change.
    stack.write("accounts.graphql", ACCOUNTS_FULL)
    wait_for(lambda: _serves_names(stack), "the fixed schema is served")


def test_request_in_flight_finishes_on_the_old_supergraph(stack: ReloadStack) -> None:
    products = stack.subgraphs["products"]
    products.delay = 1.0
    answers: list[httpx.Response] = []
    slow = threading.Thread(
        target=lambda: answers.append(
            stack.client.post(
                f"{stack.router_url}/graphql", json={"query": "{ topProducts { name } }"}
            )
        )
    )
    slow.start()
    wait_for(lambda: bool(products.requests), "the slow request reached products")
    # A new products timeout gives products a new HTTP client: the old one is retired
    # while the slow request still waits on its connection.
    stack.write(
        "supergraph.yaml",
        _yaml(stack.subgraph_url, products_extra="    timeout_seconds: 5\n"),
    )
    stack.write("accounts.graphql", ACCOUNTS_FULL)
    wait_for(lambda: _serves_names(stack), "the new supergraph serves")
    assert slow.is_alive(), "the swap should happen while the slow request runs"
    slow.join(timeout=WAIT_SECONDS)
    [answer] = answers
    assert answer.status_code == 200
    assert answer.json() == {
        "data": {"topProducts": [{"name": n} for n in ("Table", "Couch", "Chair")]}
    }
    products.delay = 0.0
    assert stack.query("{ topProducts(first: 1) { name } }") == {
        "data": {"topProducts": [{"name": "Table"}]}
    }


def test_subgraph_sdl_served_by_url_is_polled(stack: ReloadStack) -> None:
    accounts = stack.subgraphs["accounts"]
    accounts.schema = _accounts_schema(ACCOUNTS_OLD)
    stack.write("supergraph.yaml", _yaml(stack.subgraph_url, accounts_file=False))
    wait_for(lambda: bool(stack.events("supergraph reloaded")), "the YAML change is served")
    assert "errors" in stack.query(USERS_NAMES)
    accounts.schema = _accounts_schema(ACCOUNTS_FULL)
    wait_for(lambda: _serves_names(stack), "the subgraph's new SDL is served")
    assert stack.events("supergraph reloaded")[-1]["trigger"] == "subgraph SDL changed"


def test_unchanged_save_keeps_the_running_supergraph(stack: ReloadStack) -> None:
    stack.write("products.graphql", BASIC.subgraphs["products"] + "\n")
    wait_for(
        lambda: any(e["event"] == "supergraph unchanged" for e in stack.logs),
        "the save is looked at",
    )
    assert not stack.events("supergraph reloaded")


def test_edge_settings_changes_are_reported_as_needing_a_restart(stack: ReloadStack) -> None:
    restart = "router settings changed that apply only after a restart"
    stack.write("supergraph.yaml", _yaml(stack.subgraph_url) + "graphiql: {enabled: false}\n")
    wait_for(lambda: bool(stack.events(restart)), "the ignored change is logged")
    assert stack.events(restart)[0]["sections"] == ["graphiql"]
    page = stack.client.get(f"{stack.router_url}/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200


def test_start_up_composition_failure_is_refused(tmp_path: Path) -> None:
    (tmp_path / "accounts.graphql").write_text(ACCOUNTS_BROKEN, encoding="utf-8")
    (tmp_path / "products.graphql").write_text(BASIC.subgraphs["products"], encoding="utf-8")
    (tmp_path / "supergraph.yaml").write_text(_yaml("http://127.0.0.1:9"), encoding="utf-8")
    source = SupergraphSource(tmp_path / "supergraph.yaml", settings=ROUTER_SETTINGS)
    with pytest.raises(LoadError) as caught:
        build_app(source, ROUTER_SETTINGS, watch=False)
    assert "composition" in caught.value.message
    assert any("FIELD_TYPE_MISMATCH" in line for line in caught.value.details)


def test_supergraph_file_change_is_served(
    tmp_path: Path, subgraphs: tuple[str, dict[str, SubgraphApp]]
) -> None:
    base, _ = subgraphs

    def composed(accounts: str) -> str:
        sources = [
            SubgraphSource("accounts", f"{base}/accounts/graphql", accounts),
            SubgraphSource("products", f"{base}/products/graphql", BASIC.subgraphs["products"]),
        ]
        return compose(sources).raise_for_errors()

    supergraph = tmp_path / "supergraph.graphql"
    supergraph.write_text(composed(ACCOUNTS_OLD), encoding="utf-8")
    (tmp_path / "router.yaml").write_text(SETTINGS, encoding="utf-8")
    source = SupergraphSource(tmp_path / "router.yaml", supergraph, settings=ROUTER_SETTINGS)
    app = build_app(source, ROUTER_SETTINGS, watch=True, poll_seconds=0.05)
    server = ServerThread(app).start()
    stack = ReloadStack(tmp_path, {}, base, [], server.url)
    try:
        assert "errors" in stack.query(USERS_NAMES)
        supergraph.write_text(composed(ACCOUNTS_FULL), encoding="utf-8")
        wait_for(lambda: _serves_names(stack), "the new supergraph file is served")
    finally:
        stack.client.close()
        server.stop()
