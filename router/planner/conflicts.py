"""Alias fields that would make a subgraph query invalid, and undo it in the response.

Expanding an abstract type gives one inline fragment per concrete type. Two fragments may
select the same response key with types that differ in that subgraph (`ID!` on one type,
`ID` on another), which GraphQL validation rejects. Such a field is sent under an alias
and renamed back when the response arrives, before it is merged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from router.planner.plan import Fetch
from router.planner.selection import OutSelection
from router.supergraph import Supergraph


@dataclass(slots=True)
class Renames:
    by_type: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # alias → key
    children: dict[str, Renames] = field(default_factory=dict)

    def merge(self, other: Renames) -> None:
        for type_name, pairs in other.by_type.items():
            self.by_type.setdefault(type_name, []).extend(pairs)
        for key, child in other.children.items():
            if key in self.children:
                self.children[key].merge(child)
            else:
                self.children[key] = child

    def apply(self, value: Any) -> None:
        if isinstance(value, list):
            for item in value:
                self.apply(item)
            return
        if not isinstance(value, dict):
            return
        for key, child in self.children.items():
            inner = value.get(key)
            if inner is not None:
                child.apply(inner)
        pairs = self.by_type.get(value.get("__typename", ""))
        if pairs:
            for alias, key in pairs:
                if alias in value:
                    value[key] = value.pop(alias)


def _type_in_graph(supergraph: Supergraph, type_name: str, fname: str, graph: str) -> str:
    join = supergraph.field_join(type_name, fname, graph)
    if join is not None and join.type:
        return join.type
    gtype = supergraph.schema.get_type(type_name)
    fdef = getattr(gtype, "fields", {}).get(fname)
    return str(fdef.type) if fdef is not None else ""


def _walk(
    supergraph: Supergraph, graph: str, sel: OutSelection, parent: str | None
) -> Renames | None:
    renames = Renames()
    seen: dict[str, str] = {}
    if parent is not None:
        for key, out in sel.fields.items():
            seen[key] = _type_in_graph(supergraph, parent, out.name, graph)
    for type_name, frag in sel.fragments.items():
        for key, out in list(frag.fields.items()):
            if out.name == "__typename":
                continue
            field_type = _type_in_graph(supergraph, type_name, out.name, graph)
            previous = seen.get(key)
            if previous is None:
                seen[key] = field_type
            elif previous != field_type:
                alias = f"_{type_name}_{key}"
                del frag.fields[key]
                out.key = alias
                frag.fields[alias] = out
                renames.by_type.setdefault(type_name, []).append((alias, key))
    scopes: list[tuple[str | None, OutSelection]] = [(parent, sel)]
    scopes += [(t, f) for t, f in sel.fragments.items()]
    for scope_type, scope in scopes:
        if scope_type is None:
            continue
        for key, out in scope.fields.items():
            if out.selection is None:
                continue
            gtype = supergraph.schema.get_type(scope_type)
            fdef = getattr(gtype, "fields", {}).get(out.name)
            if fdef is None:
                continue
            inner_type = fdef.type
            while hasattr(inner_type, "of_type"):
                inner_type = inner_type.of_type
            child = _walk(supergraph, graph, out.selection, inner_type.name)
            if child is not None:
                if key in renames.children:
                    renames.children[key].merge(child)
                else:
                    renames.children[key] = child
    if renames.by_type:
        sel.typename()
    return renames if renames.by_type or renames.children else None


def resolve_conflicts(supergraph: Supergraph, fetch: Fetch) -> Renames | None:
    parent = None
    if not fetch.entity:
        root = (
            supergraph.schema.mutation_type
            if fetch.operation_kind == "mutation"
            else supergraph.schema.query_type
        )
        parent = root.name if root is not None else None
    return _walk(supergraph, fetch.graph, fetch.selection, parent)
