"""Fold entity fetches into siblings: fewer subgraph calls for the same data.

Two fetches with the same parent, subgraph and path can become one when the smaller one's
dependencies are a subset of the bigger one's (it would run no earlier anyway), nothing the
bigger one waits for depends on the smaller one, and their selections and representations
agree. The typical case: `inStock` folds into the fetch that waits for the fields
`shippingEstimate` @requires.
"""

from __future__ import annotations

from router.planner.context import merge_variables
from router.planner.plan import Fetch, RepSpec
from router.planner.requirements import rep_conflict
from router.planner.selection import merge_rep_fields


def _closure(fetch: Fetch) -> set[int]:
    """Ids of every fetch `fetch` waits for, directly or not."""
    seen: set[int] = set()
    stack = [fetch]
    while stack:
        current = stack.pop()
        waits = set(current.deps)
        if current.parent is not None:
            waits.add(current.parent)
        for dep in waits:
            if dep.id not in seen and dep is not current:
                seen.add(dep.id)
                stack.append(dep)
    return seen


def _mergeable(small: Fetch, big: Fetch) -> bool:
    if not small.deps <= big.deps or small.id in _closure(big):
        return False
    for tname, spec in small.reps.items():
        other = big.reps.get(tname)
        if other is not None and (
            other.typename != spec.typename or rep_conflict(other.fields, spec.fields)
        ):
            return False
    return big.selection.compatible(small.selection)


def merge_siblings(fetches: list[Fetch]) -> None:
    """Fold an entity fetch into a sibling (same parent, subgraph and path) that runs no
    earlier anyway, e.g. `inStock` into the fetch that waits for `shippingEstimate`'s
    @requires: fewer subgraph calls for the same data."""
    changed = True
    while changed:
        changed = False
        slots: dict[tuple[object, ...], list[Fetch]] = {}
        for fetch in fetches:
            if fetch.entity and fetch.parent is not None:
                # Each part of a deferred plan runs on its own: only its own fetches fold.
                slot = (fetch.parent.id, fetch.graph, fetch.path, fetch.block)
                slots.setdefault(slot, []).append(fetch)
        for group in slots.values():
            pair = next(
                (
                    (small, big)
                    for small in group
                    for big in group
                    if small is not big and _mergeable(small, big)
                ),
                None,
            )
            if pair is not None:
                _fold(fetches, *pair)
                changed = True
                break


def _fold(fetches: list[Fetch], small: Fetch, big: Fetch) -> None:
    big.selection.merge(small.selection)
    big.variables |= small.variables
    big.context_args = merge_variables(big.context_args, small.context_args)
    for tname, spec in small.reps.items():
        other = big.reps.get(tname)
        merged = (
            spec
            if other is None
            else RepSpec(spec.typename, merge_rep_fields(other.fields, spec.fields))
        )
        big.reps[tname] = merged
        if tname in small.interface_reps or tname in big.interface_reps:
            big.interface_reps[tname] = merged
    fetches.remove(small)
    for fetch in fetches:
        if fetch.parent is small:
            fetch.parent = big
        if small in fetch.deps:
            fetch.deps.discard(small)
            if fetch is not big:
                fetch.deps.add(big)
