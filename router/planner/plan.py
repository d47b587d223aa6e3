"""Query plans: fetches arranged in Sequence and Parallel nodes, Flatten for entity paths.

A plan is immutable once built; the executor runs it for every request that shares the
operation, so everything per-plan (subgraph query text, variable lists, representation
shapes) is computed here, once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from router.planner.selection import OutSelection, RepField
from router.types import PlanPath


@dataclass(frozen=True, slots=True)
class RepSpec:
    """How to build the representation of one object for an `_entities` call."""

    typename: str  # sent as __typename (an interface name for @interfaceObject)
    fields: tuple[RepField, ...]
    # (name, data key) pairs when every field is a plain scalar: the executor's fast path.
    flat: tuple[tuple[str, str], ...] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if all(f.sub is None for f in self.fields):
            pairs = tuple((f.name, f.key) for f in self.fields if f.name != "__typename")
            object.__setattr__(self, "flat", pairs)


@dataclass(eq=False, slots=True)
class Fetch:
    id: int
    graph: str
    path: PlanPath
    entity: bool
    operation_kind: str = "query"
    selection: OutSelection = field(default_factory=OutSelection)
    reps: dict[str, RepSpec] = field(default_factory=dict)
    # Representation specs that apply to any implementation of an interface, because the
    # __typename in the data may be the interface's or, after a sibling fetch, a concrete one.
    interface_reps: dict[str, RepSpec] = field(default_factory=dict)
    deps: set[Fetch] = field(default_factory=set)
    parent: Fetch | None = None
    variables: set[str] = field(default_factory=set)
    # Filled by finalize():
    document: str = ""
    variable_names: tuple[str, ...] = ()
    service: str = ""  # the subgraph's name, as query plans show it
    # Aliases added to keep the subgraph query valid, undone on the response (conflicts.py).
    renames: Any = None

    def __hash__(self) -> int:
        return self.id

    def rep_for(self, typename: str, implements: dict[str, frozenset[str]]) -> RepSpec | None:
        spec = self.reps.get(typename)
        if spec is not None:
            return spec
        if self.interface_reps:
            for iface in implements.get(typename, ()):
                spec = self.interface_reps.get(iface)
                if spec is not None:
                    return spec
        return None


@dataclass(frozen=True, slots=True)
class FetchNode:
    fetch: Fetch


@dataclass(frozen=True, slots=True)
class SequenceNode:
    nodes: tuple[PlanNode, ...]


@dataclass(frozen=True, slots=True)
class ParallelNode:
    nodes: tuple[PlanNode, ...]


PlanNode = FetchNode | SequenceNode | ParallelNode


@dataclass(frozen=True, slots=True)
class Plan:
    root: PlanNode | None
    fetch_count: int

    def to_json(self) -> dict[str, Any]:
        """The plan as Apollo's query-plan JSON shape (for the debug extension)."""
        return {"kind": "QueryPlan", "node": _node_json(self.root) if self.root else None}


def _node_json(node: PlanNode) -> dict[str, Any]:
    if isinstance(node, SequenceNode):
        return {"kind": "Sequence", "nodes": [_node_json(n) for n in node.nodes]}
    if isinstance(node, ParallelNode):
        return {"kind": "Parallel", "nodes": [_node_json(n) for n in node.nodes]}
    fetch = node.fetch
    body: dict[str, Any] = {
        "kind": "Fetch",
        "serviceName": fetch.service,
        "variableUsages": list(fetch.variable_names),
        "operation": fetch.document,
        "operationKind": fetch.operation_kind,
    }
    if fetch.entity:
        body["requires"] = sorted({spec.typename for spec in fetch.reps.values()})
        return {"kind": "Flatten", "path": list(fetch.path), "node": body}
    return body


def build_tree(roots: list[Fetch], all_fetches: list[Fetch], sequential: bool) -> PlanNode | None:
    """Arrange the fetch DAG as nested Sequence/Parallel nodes.

    A fetch's children run after it; children that need data from a sibling's subtree
    (@requires, keys fetched from elsewhere) go in a later parallel layer.
    """
    children: dict[int, list[Fetch]] = {f.id: [] for f in all_fetches}
    for f in all_fetches:
        if f.parent is not None:
            children[f.parent.id].append(f)

    def top_child(dep: Fetch, parent: Fetch) -> Fetch | None:
        node: Fetch | None = dep
        while node is not None and node.parent is not parent:
            node = node.parent
        return node

    def subtree(fetch: Fetch) -> PlanNode:
        kids = children[fetch.id]
        if not kids:
            return FetchNode(fetch)
        layer: dict[int, int] = {}

        def layer_of(kid: Fetch, seen: frozenset[int] = frozenset()) -> int:
            if kid.id in layer:
                return layer[kid.id]
            level = 0
            for dep in kid.deps:
                if dep is fetch:
                    continue
                sibling = top_child(dep, fetch)
                if sibling is None or sibling is kid or sibling.id in seen:
                    continue
                level = max(level, layer_of(sibling, seen | {kid.id}) + 1)
            layer[kid.id] = level
            return level

        for kid in kids:
            layer_of(kid)
        steps: list[PlanNode] = [FetchNode(fetch)]
        for level in range(max(layer.values()) + 1):
            group = [subtree(k) for k in kids if layer[k.id] == level]
            if group:
                steps.append(group[0] if len(group) == 1 else ParallelNode(tuple(group)))
        return SequenceNode(tuple(steps))

    nodes = [subtree(r) for r in roots]
    if not nodes:
        return None
    if len(nodes) == 1:
        return nodes[0]
    return SequenceNode(tuple(nodes)) if sequential else ParallelNode(tuple(nodes))
