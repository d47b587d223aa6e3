"""The committed subgraph SDL files are what the code prints (`make schema` rewrites them)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from coursegraph.federation import FEDERATION_VERSION
from launcher import subgraph_registry

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", subgraph_registry.available())
def test_exported_sdl_matches_the_code(name: str) -> None:
    committed = (REPO_ROOT / "subgraphs" / name / "schema.graphql").read_text()
    assert committed == subgraph_registry.schema_sdl(name), "run `make schema`"


@pytest.mark.parametrize("name", subgraph_registry.available())
def test_federation_version_is_pinned(name: str) -> None:
    sdl = subgraph_registry.schema_sdl(name)
    assert f"https://specs.apollo.dev/federation/v{FEDERATION_VERSION}" in sdl


def test_supergraph_yaml_lists_every_subgraph() -> None:
    config = yaml.safe_load((REPO_ROOT / "supergraph.yaml").read_text())
    assert set(config["subgraphs"]) == set(subgraph_registry.available())
    for name, entry in config["subgraphs"].items():
        assert entry["schema"]["file"] == f"./subgraphs/{name}/schema.graphql"
        assert entry["routing_url"].endswith("/graphql")
