"""Load a test graph: subgraph SDL files, resolvers and the committed supergraph."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GRAPHS = Path(__file__).parent


@dataclass(frozen=True)
class GraphFixture:
    name: str
    supergraph: str
    subgraphs: dict[str, str]  # name -> SDL
    resolvers: dict[str, dict[str, dict[str, Any]]]


def load_graph(name: str) -> GraphFixture:
    folder = GRAPHS / name
    module = importlib.import_module(f"tests.router.graphs.{name}")
    subgraphs = {
        path.stem: path.read_text(encoding="utf-8")
        for path in sorted(folder.glob("*.graphql"))
        if path.name != "supergraph.graphql"
    }
    return GraphFixture(
        name=name,
        supergraph=(folder / "supergraph.graphql").read_text(encoding="utf-8"),
        subgraphs=subgraphs,
        resolvers=module.RESOLVERS,
    )
