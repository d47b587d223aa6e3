"""The repository's own subgraphs compose as @apollo/composition composes them.

`fixtures/repo/` holds Apollo's supergraph of the subgraphs listed in supergraph.yaml, the
API schema Apollo derives from it, and the SHA-256 of each SDL file they were made from.
When a subgraph changes, the fixture is stale: the test skips and says so until the
fixture is regenerated with Apollo (under CI=true a stale fixture fails: see fixtures/README.md).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from router.composition import api_schema, compose, join_metadata
from router.composition.sources import read_config, read_sources
from tests.composition.apollo import apollo_router_api
from tests.services import unavailable

REPO = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).parent / "fixtures" / "repo"


def _hashes() -> dict[str, str]:
    return {
        config.name: hashlib.sha256(config.file.read_bytes()).hexdigest()
        for config in read_config(REPO / "supergraph.yaml")
        if config.file is not None and config.file.exists()
    }


def _current_or_skip() -> str:
    recorded = json.loads((FIXTURE / "sources.json").read_text(encoding="utf-8"))
    if recorded != _hashes():
        unavailable(
            "subgraph SDL files changed since fixtures/repo was composed by Apollo; "
            "regenerate fixtures/repo/supergraph.graphql and sources.json"
        )
    return (FIXTURE / "supergraph.graphql").read_text(encoding="utf-8")


def test_repo_subgraphs_compose_like_apollo() -> None:
    apollo = _current_or_skip()
    ours = compose(read_sources(REPO / "supergraph.yaml")).raise_for_errors()
    assert api_schema(ours) == api_schema(apollo)
    assert join_metadata(ours) == join_metadata(apollo)
    apollo_api = (FIXTURE / "supergraph-api.graphql").read_text(encoding="utf-8")
    assert api_schema(ours) == apollo_router_api(apollo_api)


def test_committed_supergraph_is_ours_and_apollos() -> None:
    apollo = _current_or_skip()
    committed = (REPO / "supergraph.graphql").read_text(encoding="utf-8")
    assert api_schema(committed) == api_schema(apollo)
