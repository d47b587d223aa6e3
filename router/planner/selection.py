"""Selection sets the planner writes for subgraphs, and the representation shapes it reads.

A small mutable tree instead of graphql-core AST nodes: the planner adds fields to it
field by field and merges repeats, then prints it once when the plan is final.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class OutField:
    name: str
    key: str  # response key; an alias when it differs from name
    args: str  # printed arguments, "" for none
    selection: OutSelection | None = None


@dataclass(slots=True)
class OutSelection:
    fields: dict[str, OutField] = field(default_factory=dict)
    fragments: dict[str, OutSelection] = field(default_factory=dict)

    def add(self, key: str, name: str, args: str = "", composite: bool = False) -> OutField:
        existing = self.fields.get(key)
        if existing is not None:
            if existing.name != name or existing.args != args:
                raise ValueError(f"conflicting selections for response key {key!r}")
            return existing
        out = OutField(name, key, args, OutSelection() if composite else None)
        self.fields[key] = out
        return out

    def typename(self) -> None:
        self.fields.setdefault("__typename", OutField("__typename", "__typename", ""))

    def fragment(self, type_name: str) -> OutSelection:
        frag = self.fragments.get(type_name)
        if frag is None:
            frag = self.fragments[type_name] = OutSelection()
        return frag

    def compatible(self, other: OutSelection) -> bool:
        for key, theirs in other.fields.items():
            mine = self.fields.get(key)
            if mine is None:
                continue
            if mine.name != theirs.name or mine.args != theirs.args:
                return False
            if (mine.selection is None) != (theirs.selection is None):
                return False
            if mine.selection is not None and not mine.selection.compatible(theirs.selection):  # type: ignore[arg-type]
                return False
        return all(
            self.fragments[t].compatible(frag)
            for t, frag in other.fragments.items()
            if t in self.fragments
        )

    def merge(self, other: OutSelection) -> None:
        """Add `other`'s selections (check `compatible` first)."""
        for key, theirs in other.fields.items():
            mine = self.fields.get(key)
            if mine is None:
                self.fields[key] = theirs
            elif mine.selection is not None and theirs.selection is not None:
                mine.selection.merge(theirs.selection)
        for type_name, frag in other.fragments.items():
            self.fragment(type_name).merge(frag)

    def is_empty(self) -> bool:
        return not self.fields and all(f.is_empty() for f in self.fragments.values())

    def prune(self) -> None:
        """Drop empty fragments; a composite field left empty selects __typename."""
        for name in [n for n, frag in self.fragments.items() if frag.is_empty()]:
            del self.fragments[name]
        for frag in self.fragments.values():
            frag.prune()
        for f in self.fields.values():
            if f.selection is not None:
                f.selection.prune()
                if f.selection.is_empty():
                    f.selection.typename()

    def print(self) -> str:
        parts: list[str] = []
        for f in self.fields.values():
            head = f.name if f.key == f.name else f"{f.key}:{f.name}"
            if f.args:
                head += f.args
            if f.selection is not None:
                head += f.selection.print()
            parts.append(head)
        for type_name, frag in self.fragments.items():
            parts.append(f"...on {type_name}{frag.print()}")
        return "{" + " ".join(parts) + "}"


@dataclass(frozen=True, slots=True)
class RepField:
    """One field of an entity representation: `name` in the representation, read from
    `key` in the merged response data."""

    name: str
    key: str
    sub: tuple[RepField, ...] | None = None
    # Nested selections under a type condition (requires with inline fragments).
    fragments: tuple[tuple[str, tuple[RepField, ...]], ...] = ()


def merge_rep_fields(a: tuple[RepField, ...], b: tuple[RepField, ...]) -> tuple[RepField, ...]:
    merged: dict[str, RepField] = {f.name: f for f in a}
    for f in b:
        old = merged.get(f.name)
        if old is None:
            merged[f.name] = f
        elif old.sub is not None and f.sub is not None:
            merged[f.name] = RepField(
                old.name,
                old.key,
                merge_rep_fields(old.sub, f.sub),
                old.fragments + tuple(x for x in f.fragments if x not in old.fragments),
            )
    return tuple(merged.values())
