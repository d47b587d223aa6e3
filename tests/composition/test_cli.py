"""`coursegraph compose` from the command line."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from launcher.cli import main

SDL = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])\n'


def _config(tmp_path: Path, body: str) -> Path:
    (tmp_path / "a.graphql").write_text(SDL + body)
    config = tmp_path / "supergraph.yaml"
    config.write_text(
        "subgraphs:\n  a:\n    routing_url: http://a/graphql\n    schema:\n      file: a.graphql\n"
    )
    return config


def test_compose_writes_the_supergraph(tmp_path: Path) -> None:
    config = _config(tmp_path, "type Query { a: Int }")
    output = tmp_path / "out.graphql"
    result = CliRunner().invoke(main, ["compose", "--config", str(config), "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert '@join__graph(name: "a", url: "http://a/graphql")' in output.read_text()


def test_compose_to_stdout(tmp_path: Path) -> None:
    config = _config(tmp_path, "type Query { a: Int }")
    result = CliRunner().invoke(main, ["compose", "--config", str(config), "--output", "-"])
    assert result.exit_code == 0
    assert result.output.startswith("schema\n")


def test_compose_failure_lists_errors_and_exits_non_zero(tmp_path: Path) -> None:
    config = _config(tmp_path, 'type Query { a: T } type T @key(fields: "nope") { id: ID }')
    result = CliRunner().invoke(main, ["compose", "--config", str(config)])
    assert result.exit_code == 1
    assert "KEY_INVALID_FIELDS" in result.output
