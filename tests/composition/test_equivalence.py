"""Our composition of the fixture graphs against @apollo/composition 2.14.4's.

Each folder under fixtures/ holds subgraph SDLs, `supergraph.graphql` composed once by
Apollo (subgraph name = file stem, URL http://<stem>.test/graphql) and
`supergraph-api.graphql`, the API schema Apollo derives from it; both committed as data.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from router.composition import SubgraphSource, api_schema, compose, join_metadata
from tests.composition.apollo import apollo_router_api

FIXTURES = Path(__file__).parent / "fixtures"
# fixtures/repo holds only Apollo's supergraph of the repository (test_repo_graph.py).
GRAPHS = sorted(
    p.name
    for p in FIXTURES.iterdir()
    if (p / "supergraph-api.graphql").exists()
    and any(not f.name.startswith("supergraph") for f in p.glob("*.graphql"))
)


def _compose(folder: Path) -> str:
    sources = [
        SubgraphSource(p.stem, f"http://{p.stem}.test/graphql", p.read_text(encoding="utf-8"))
        for p in sorted(folder.glob("*.graphql"))
        if not p.name.startswith("supergraph")
    ]
    return compose(sources).raise_for_errors()


def test_fixture_graphs_exist() -> None:
    expected = {"abstract", "directives", "edges", "entities", "fed1", "merging", "override"}
    assert expected <= set(GRAPHS)


@pytest.mark.parametrize("graph", GRAPHS)
def test_api_schema_matches_apollo(graph: str) -> None:
    ours = _compose(FIXTURES / graph)
    apollo = (FIXTURES / graph / "supergraph.graphql").read_text(encoding="utf-8")
    assert api_schema(ours) == api_schema(apollo)


@pytest.mark.parametrize("graph", GRAPHS)
def test_api_schema_matches_apollos_own_derivation(graph: str) -> None:
    apollo_api = (FIXTURES / graph / "supergraph-api.graphql").read_text(encoding="utf-8")
    assert api_schema(_compose(FIXTURES / graph)) == apollo_router_api(apollo_api)


@pytest.mark.parametrize("graph", GRAPHS)
def test_join_metadata_matches_apollo(graph: str) -> None:
    ours = join_metadata(_compose(FIXTURES / graph))
    apollo = join_metadata((FIXTURES / graph / "supergraph.graphql").read_text(encoding="utf-8"))
    assert ours == apollo


@pytest.mark.parametrize("graph", GRAPHS)
def test_printed_supergraph_matches_apollo_layout(graph: str) -> None:
    ours = _compose(FIXTURES / graph)
    apollo = (FIXTURES / graph / "supergraph.graphql").read_text(encoding="utf-8")
    assert ours.strip() == apollo.strip()


def test_subgraph_order_does_not_matter() -> None:
    folder = FIXTURES / "entities"
    sources = [
        SubgraphSource(p.stem, f"http://{p.stem}.test/graphql", p.read_text(encoding="utf-8"))
        for p in sorted(folder.glob("*.graphql"), reverse=True)
        if not p.name.startswith("supergraph")
    ]
    assert compose(sources).raise_for_errors() == _compose(folder)


def test_join_version_follows_the_newest_federation_version() -> None:
    def sdl(version: str) -> str:
        return (
            f'extend schema @link(url: "https://specs.apollo.dev/federation/v{version}", '
            'import: ["@key"]) type Query { a: Int }'
        )

    for version, join in (("2.3", "v0.3"), ("2.7", "v0.4"), ("2.9", "v0.5")):
        printed = compose([SubgraphSource("a", "http://a", sdl(version))]).raise_for_errors()
        assert f"https://specs.apollo.dev/join/{join}" in printed


def test_federation_1_subgraph_is_read_with_everything_shareable() -> None:
    one = SubgraphSource("one", "http://one", "type Query { a: Thing } type Thing { x: Int }")
    two = SubgraphSource("two", "http://two", "type Query { b: Thing } type Thing { x: Int }")
    printed = compose([one, two]).raise_for_errors()
    assert "type Thing" in api_schema(printed)
