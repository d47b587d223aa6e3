"""router.yaml validation and the `coursegraph router` click command."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from router.cli import router_command
from router.config import RouterConfig, load_config
from router.service import Router
from router.supergraph import Supergraph, SupergraphError

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
        Router(supergraph, config)


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
