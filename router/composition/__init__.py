"""Federation v2 composition in Python: subgraph SDLs in, supergraph SDL (or errors) out.

`compose()` is what `coursegraph compose`, `coursegraph schema check` and the router's
config mode call; `compose_config()` reads `supergraph.yaml` first (`watched_paths()` names
the files a hot-reloading caller should watch). The stages, in order: read each subgraph
(subgraph.py, fieldset.py), check it alone (validate.py), merge (merge.py, directives.py,
typeref.py), check the merged schema (postmerge.py, satisfiability.py), print (emit.py).
Errors of one stage stop the next, as later stages assume earlier rules hold.

The output matches what @apollo/composition 2.14 writes for the same subgraphs: same API
schema, same join__ metadata, and in the tested cases the same text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from router.composition import errors
from router.composition.api import api_graphql_schema, api_schema, join_metadata
from router.composition.context import check_context_authorization
from router.composition.definitions import Subgraph
from router.composition.emit import print_supergraph
from router.composition.errors import CompositionError, CompositionFailed
from router.composition.merge import Merger
from router.composition.postmerge import validate_merged, validate_requires_arguments
from router.composition.satisfiability import (
    check_contexts_reachable,
    check_runtime_types,
    check_satisfiability,
)
from router.composition.sources import SourceError, SubgraphSource, read_sources, watched_paths
from router.composition.subgraph import SubgraphParseError, read_subgraph
from router.composition.validate import validate_subgraph

__all__ = [
    "CompositionError",
    "CompositionFailed",
    "CompositionResult",
    "SourceError",
    "SubgraphSource",
    "api_graphql_schema",
    "api_schema",
    "compose",
    "compose_config",
    "join_metadata",
    "watched_paths",
]


@dataclass(frozen=True, slots=True)
class CompositionResult:
    supergraph_sdl: str | None
    errors: list[CompositionError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.supergraph_sdl is not None

    def raise_for_errors(self) -> str:
        if self.supergraph_sdl is None:
            raise CompositionFailed(self.errors)
        return self.supergraph_sdl


def compose(subgraphs: Sequence[SubgraphSource]) -> CompositionResult:
    if not subgraphs:
        return CompositionResult(
            None, [CompositionError(errors.NO_SUBGRAPHS, "no subgraphs given")]
        )
    names = [s.name for s in subgraphs]
    if "_" in names:
        # Apollo reserves it (it would clash with the internal name of the supergraph).
        return CompositionResult(
            None,
            [
                CompositionError(
                    errors.INVALID_SUBGRAPH_NAME,
                    'Invalid name "_" for a subgraph: this name is reserved',
                    ("_",),
                )
            ],
        )
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        return CompositionResult(
            None,
            [
                CompositionError(errors.DUPLICATE_SUBGRAPH, f"subgraph {n!r} listed twice", (n,))
                for n in duplicates
            ],
        )
    parsed: list[Subgraph] = []
    problems: list[CompositionError] = []
    # Apollo composes subgraphs in name order whatever order they are listed in; doing the
    # same gives the same join__Graph order, field order and layout.
    for source in sorted(subgraphs, key=lambda s: s.name):
        try:
            subgraph = read_subgraph(source)
        except SubgraphParseError as error:
            problems.append(error.error)
            continue
        parsed.append(subgraph)
        problems.extend(validate_subgraph(subgraph))
    if problems:
        return CompositionResult(None, problems)
    merger = Merger(parsed)
    schema = merger.merge()
    if merger.errors:
        return CompositionResult(None, merger.errors)
    problems = (
        validate_merged(schema) + validate_requires_arguments(parsed)
        or check_satisfiability(schema, parsed)
        or check_runtime_types(schema, parsed)
        or check_contexts_reachable(schema)
        or check_context_authorization(schema)
    )
    if problems:
        return CompositionResult(None, problems)
    return CompositionResult(print_supergraph(schema) + "\n")


def compose_config(path: Path, *, timeout: float = 10.0) -> CompositionResult:
    """Compose the subgraphs listed in a rover-style `supergraph.yaml`.

    Raises SourceError when the file or a subgraph's SDL cannot be read (as opposed to
    composition errors, which are in the result): a caller that hot-reloads can keep its
    current supergraph in both cases and log why.
    """
    return compose(read_sources(path, timeout=timeout))
