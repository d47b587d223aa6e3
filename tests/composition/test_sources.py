"""supergraph.yaml in rover's format, and SDL fetched from a running subgraph."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from router.composition.sources import (
    SourceError,
    fetch_sdl,
    read_config,
    read_sources,
    watched_paths,
)


def test_reads_files_relative_to_the_yaml(tmp_path: Path) -> None:
    (tmp_path / "a.graphql").write_text("type Query { a: Int }")
    (tmp_path / "supergraph.yaml").write_text(
        "subgraphs:\n  a:\n    routing_url: http://a/graphql\n"
        "    schema:\n      file: ./a.graphql\n"
        "  b:\n    routing_url: http://b/graphql\n    schema:\n      sdl: 'type Query { b: Int }'\n"
    )
    sources = read_sources(tmp_path / "supergraph.yaml")
    assert [(s.name, s.url, s.sdl) for s in sources] == [
        ("a", "http://a/graphql", "type Query { a: Int }"),
        ("b", "http://b/graphql", "type Query { b: Int }"),
    ]


def test_without_schema_the_routing_url_is_introspected(tmp_path: Path) -> None:
    (tmp_path / "supergraph.yaml").write_text("subgraphs:\n  a:\n    routing_url: http://a/gql\n")
    [config] = read_config(tmp_path / "supergraph.yaml")
    assert config.introspect_url == "http://a/gql"


def test_fetch_sdl_asks_service_sdl() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert b"_service" in request.content
        return httpx.Response(200, json={"data": {"_service": {"sdl": "type Query { a: Int }"}}})

    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        assert fetch_sdl("http://a/graphql", client=client) == "type Query { a: Int }"


def test_fetch_sdl_failure_is_a_source_error() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"errors": [{"message": "no"}]})

    with (
        httpx.Client(transport=httpx.MockTransport(answer)) as client,
        pytest.raises(SourceError),
    ):
        fetch_sdl("http://a/graphql", client=client)


def test_malformed_yaml_is_a_source_error(tmp_path: Path) -> None:
    (tmp_path / "supergraph.yaml").write_text("nope: [")
    with pytest.raises(SourceError):
        read_config(tmp_path / "supergraph.yaml")


def test_watched_paths_are_the_yaml_and_schema_files(tmp_path: Path) -> None:
    (tmp_path / "supergraph.yaml").write_text(
        "subgraphs:\n  a:\n    routing_url: http://a/graphql\n    schema:\n      file: a.graphql\n"
        "  b:\n    routing_url: http://b/graphql\n"
    )
    assert watched_paths(tmp_path / "supergraph.yaml") == [
        (tmp_path / "supergraph.yaml").resolve(),
        (tmp_path / "a.graphql").resolve(),
    ]
