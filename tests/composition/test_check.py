"""`schema check` on a throw-away git repository: each step, and a caught breaking change."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from router.composition import compose
from router.composition.check import CheckReport, default_base, read_ack, run_check
from router.composition.sources import read_sources

SDL = """extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])
type Query { me: User }
type User @key(fields: "id") { id: ID! name: String email: String }
"""
YAML = """subgraphs:
  users:
    routing_url: http://127.0.0.1:3001/graphql
    schema:
      file: ./users.graphql
"""


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "users.graphql").write_text(SDL)
    (tmp_path / "supergraph.yaml").write_text(YAML)
    supergraph = compose(read_sources(tmp_path / "supergraph.yaml")).raise_for_errors()
    (tmp_path / "supergraph.graphql").write_text(supergraph)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "base")
    return tmp_path


def _check(repo: Path, exported: str | None = SDL, base: str | None = "HEAD") -> CheckReport:
    return run_check(
        repo,
        repo / "supergraph.yaml",
        supergraph=repo / "supergraph.graphql",
        base=base,
        ack=repo / "schema-changes.ack",
        export_sdl=lambda name: exported,
    )


def _recompose(repo: Path) -> None:
    supergraph = compose(read_sources(repo / "supergraph.yaml")).raise_for_errors()
    (repo / "supergraph.graphql").write_text(supergraph)


def test_clean_repository_passes(repo: Path) -> None:
    report = _check(repo)
    assert report.ok, report.render()
    assert "no client operations" in report.render()


def test_stale_export_and_stale_supergraph_fail(repo: Path) -> None:
    (repo / "users.graphql").write_text(SDL.replace("email: String", "email: String age: Int"))
    report = _check(repo)
    statuses = {s.label[:3]: s.status for s in report.steps}
    assert statuses["(a)"] == "fail"
    assert statuses["(c)"] == "fail"
    assert not report.ok


def test_breaking_change_fails_until_acknowledged(repo: Path) -> None:
    changed = SDL.replace(" email: String", "")
    (repo / "users.graphql").write_text(changed)
    _recompose(repo)
    report = _check(repo, exported=changed)
    assert not report.ok
    assert "BREAKING FIELD_REMOVED: Field User.email was removed." in report.render()
    (repo / "schema-changes.ack").write_text("# reviewed\nUser.email  # nobody reads it\n")
    acknowledged = _check(repo, exported=changed)
    assert acknowledged.ok, acknowledged.render()
    assert "BREAKING (acknowledged)" in acknowledged.render()


def test_dangerous_change_is_listed_but_passes(repo: Path) -> None:
    changed = SDL.replace("me: User", "me(locale: String): User")
    (repo / "users.graphql").write_text(changed)
    _recompose(repo)
    report = _check(repo, exported=changed)
    assert report.ok, report.render()
    assert "dangerous" in report.render()


def test_composition_failure_is_reported(repo: Path) -> None:
    (repo / "users.graphql").write_text(SDL.replace('fields: "id"', 'fields: "uuid"'))
    report = _check(repo, exported=None)
    assert not report.ok
    assert "KEY_INVALID_FIELDS" in report.render()


def test_client_operations_are_validated(repo: Path) -> None:
    folder = repo / "clients" / "operations" / "web"
    folder.mkdir(parents=True)
    (folder / "me.graphql").write_text("query Me { me { id name } }")
    assert _check(repo).ok
    (folder / "bad.graphql").write_text("query Bad { me { age } }")
    report = _check(repo)
    assert not report.ok
    assert "web/bad.graphql:1:18: Cannot query field 'age'" in report.render()


def test_missing_base_is_skipped(repo: Path) -> None:
    report = _check(repo, base=None)
    assert report.ok
    assert "no base commit" in report.render()


def test_ack_file_ignores_comments(tmp_path: Path) -> None:
    path = tmp_path / "ack"
    path.write_text("# header\n\nQuery.me # why\nUser\n")
    assert read_ack(path) == {"Query.me", "User"}


def test_subgraph_code_that_fails_to_export_fails_the_step(repo: Path) -> None:
    def broken(name: str) -> str:
        raise ImportError("no module named subgraphs.users.schema")

    report = run_check(
        repo,
        repo / "supergraph.yaml",
        supergraph=repo / "supergraph.graphql",
        base="HEAD",
        ack=repo / "schema-changes.ack",
        export_sdl=broken,
    )
    assert not report.ok
    assert "users (cannot export: ImportError" in report.render()


def test_on_main_the_latest_committed_api_change_is_reviewed(repo: Path) -> None:
    # CI checks a clone of main: the breaking change is already committed, and a later
    # commit that leaves the supergraph alone must not hide it.
    (repo / "users.graphql").write_text(SDL.replace(" email: String", ""))
    _recompose(repo)
    _git(repo, "commit", "-q", "-am", "drop User.email")
    (repo / "README").write_text("unrelated")
    _git(repo, "add", "README")
    _git(repo, "commit", "-q", "-m", "docs")
    base = default_base(repo)
    assert base is not None
    report = _check(repo, exported=SDL.replace(" email: String", ""), base=base)
    assert not report.ok
    assert "User.email" in report.render()
