"""router.yaml validation and the `coursegraph router` click command."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from router.bootstrap import build_router
from router.cli import router_command
from router.config import RouterConfig, load_config
from router.supergraph import Supergraph, SupergraphError
from tests.router.conftest import SETTINGS

GRAPHS = Path(__file__).parent / "graphs"


def test_config_sections(tmp_path: Path) -> None:
    path = tmp_path / "router.yaml"
    path.write_text(
        """
subgraphs:
  accounts: {url: "http://127.0.0.1:9/graphql", timeout_seconds: 2.5}
plan_cache: {size: 10}
debug: {expose_query_plan: true}
headers: {forward: [authorization, x-tenant]}
""",
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.subgraphs["accounts"].timeout_seconds == 2.5
    assert config.plan_cache.size == 10
    assert config.debug.expose_query_plan
    assert config.headers.forward == ("authorization", "x-tenant")
    assert load_config(None) == RouterConfig()


@pytest.mark.parametrize(
    "text",
    [
        "plan_cache: {size: 10, ttl: 5}",
        "debgu: {expose_query_plan: true}",
        "subgraphs: {accounts: {timeout_seconds: 0}}",
    ],
)
def test_config_refuses_unknown_keys_and_bad_values(tmp_path: Path, text: str) -> None:
    path = tmp_path / "router.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValidationError):
        load_config(path)


def test_config_naming_an_unknown_subgraph_is_refused() -> None:
    supergraph = Supergraph.from_file(GRAPHS / "basic" / "supergraph.graphql")
    config = RouterConfig.model_validate({"subgraphs": {"acounts": {"url": "http://x/"}}})
    with pytest.raises(ValueError, match="acounts"):
        build_router(supergraph, config, SETTINGS)


def test_not_a_supergraph_is_refused() -> None:
    with pytest.raises(SupergraphError):
        Supergraph("type Query { a: Int }")


def test_cli_help_and_missing_supergraph() -> None:
    runner = CliRunner()
    result = runner.invoke(router_command, ["--help"])
    assert result.exit_code == 0
    assert "--supergraph" in result.output
    assert "--config" in result.output
    result = runner.invoke(router_command, ["--port", "0"])
    assert result.exit_code != 0
    assert "supergraph" in result.output


REPO = Path(__file__).parents[2]


def test_rover_supergraph_yaml_is_a_router_config() -> None:
    config = load_config(REPO / "supergraph.yaml")
    assert config.composes
    users = config.subgraphs["users"]
    assert users.routing_url == "http://127.0.0.1:3001/graphql"
    assert users.schema_source is not None
    assert users.schema_source.file == Path("subgraphs/users/schema.graphql")
    assert not load_config(None).composes


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "subgraphs:\n  a: {routing_url: 'http://x/', schema: {file: a.graphql, sdl: 'x'}}",
            "exactly one of file, sdl, subgraph_url",
        ),
        (
            "subgraphs:\n  a: {routing_url: 'http://x/'}\n  b: {url: 'http://y/'}",
            "every entry is one",
        ),
        (
            "supergraph: {path: s.graphql}\nsubgraphs:\n  a: {routing_url: 'http://x/'}",
            "two supergraph sources",
        ),
        ("subgraphs:\n  a: {routing_url: 'http://x/', schema: {graphref: 'g@v'}}", "graphref"),
    ],
)
def test_composing_configs_are_checked(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "supergraph.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValidationError, match=message):
        load_config(path)


def test_cli_refuses_to_start_when_composition_fails(tmp_path: Path) -> None:
    (tmp_path / "a.graphql").write_text("type Query { a: Int }", encoding="utf-8")
    (tmp_path / "b.graphql").write_text("type Query { a: String }", encoding="utf-8")
    (tmp_path / "supergraph.yaml").write_text(
        "subgraphs:\n"
        "  a: {routing_url: 'http://127.0.0.1:9/graphql', schema: {file: a.graphql}}\n"
        "  b: {routing_url: 'http://127.0.0.1:9/graphql', schema: {file: b.graphql}}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        router_command, ["--config", str(tmp_path / "supergraph.yaml"), "--no-watch"]
    )
    assert result.exit_code != 0
    assert "composition of" in result.output
    assert "FIELD_TYPE_MISMATCH" in result.output


def test_cli_refuses_a_supergraph_file_next_to_composed_subgraphs(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        router_command,
        ["--config", str(REPO / "supergraph.yaml"), "--supergraph", str(tmp_path / "x")],
    )
    assert result.exit_code != 0
    assert "two supergraph sources" in result.output
