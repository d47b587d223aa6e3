"""The values of `@fromContext` arguments, read per entity from the merged data.

An entity fetch with context variables (planner/context.py) gathers its objects with the
objects enclosing each one; each variable takes the value of its first source that
applies: the object `levels` field steps up, of one of the source's types, holding the
value the plan selected there. Entities whose values differ go to the subgraph in
separate groups, each its own `_entities` field.
"""

from __future__ import annotations

from typing import Any

from router.planner.context import ContextVariable
from router.planner.selection import RepField
from router.types import JSONObject, PlanPath

_MISSING = object()


def objects_with_ancestors(
    data: JSONObject, path: PlanPath
) -> list[tuple[JSONObject, tuple[JSONObject, ...]]]:
    """The objects at `path`, each with the chain of objects from the root down to it (one
    per field step: lists are stepped through, never part of the chain)."""
    current: list[tuple[Any, tuple[JSONObject, ...]]] = [(data, (data,))]
    for segment in path:
        following: list[tuple[Any, tuple[JSONObject, ...]]] = []
        for value, chain in current:
            if segment == "@":
                if isinstance(value, list):
                    following.extend(
                        (item, (*chain, item) if isinstance(item, dict) else chain)
                        for item in value
                    )
            elif isinstance(value, dict):
                child = value.get(segment)
                if child is not None:
                    following.append((child, (*chain, child) if isinstance(child, dict) else chain))
        current = following
    return [(value, chain) for value, chain in current if isinstance(value, dict)]


def _read(value: Any, field: RepField) -> Any:
    """The selected leaf (through lists and nested single fields)."""
    if isinstance(value, list):
        return [_read(item, field) for item in value]
    if not isinstance(value, dict):
        return value
    inner = value.get(field.key)
    if field.sub is None or inner is None:
        return inner
    nested = next((f for f in field.sub if f.name != "__typename"), None)
    return inner if nested is None else _read(inner, nested)


def context_values(
    chain: tuple[JSONObject, ...], variables: tuple[ContextVariable, ...]
) -> dict[str, Any]:
    """Each variable's value for the entity ending `chain`; a variable none of whose sources
    applies is left out (the argument reads as null)."""
    found: dict[str, Any] = {}
    for variable in variables:
        for source in variable.sources:
            if source.levels >= len(chain):
                continue
            holder = chain[-1 - source.levels]
            if source.typenames is not None and holder.get("__typename") not in source.typenames:
                continue
            raw = holder.get(source.value.key, _MISSING)
            if raw is _MISSING:
                continue
            found[variable.name] = _read(holder, source.value)
            break
    return found
