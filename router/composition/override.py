"""`@override`: which subgraph's instance of a field is taken over, and what that leaves.

An overridden field that the source subgraph still uses (in a key, `@requires`,
`@provides` or to satisfy an interface) stays as `usedOverridden`; an unused one drops out
of the supergraph. A label (`percent(x)` or a name) keeps both for progressive override.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from router.composition import errors
from router.composition.definitions import FieldDef

LABEL = re.compile(r"^[a-zA-Z][a-zA-Z0-9_\-:./]*$")
PERCENT = re.compile(r"^percent\((\d{1,2}(\.\d{1,8})?|100)\)$")

Fail = Callable[[str, str, Iterable[int], str | None], None]


@dataclass(slots=True)
class Override:
    """Per field: source subgraphs (by index) overridden while used, or unused; labels."""

    used: set[int] = field(default_factory=set)
    unused: set[int] = field(default_factory=set)
    labels: dict[int, str] = field(default_factory=dict)


def validate_override(
    coordinate: str, defined: dict[int, FieldDef], names: Sequence[str], fail: Fail
) -> Override:
    result = Override()
    overriders = [i for i, f in defined.items() if f.override is not None]
    for idx in overriders:
        f = defined[idx]
        assert f.override is not None
        if f.override not in names or f.override == names[idx]:
            continue  # unknown target: Apollo only hints; self: reported per subgraph
        from_idx = names.index(f.override)
        from_field = defined.get(from_idx)
        if from_field is None:
            continue
        if from_field.override is not None:
            fail(
                errors.OVERRIDE_SOURCE_HAS_OVERRIDE,
                f'Field "{coordinate}" on subgraph "{names[idx]}" is also marked with '
                f'directive @override in subgraph "{f.override}". Only one @override directive '
                "is allowed per field.",
                [idx, from_idx],
                coordinate,
            )
            continue
        if from_field.requires or from_field.provides or f.external:
            fail(
                errors.OVERRIDE_COLLISION_WITH_ANOTHER_DIRECTIVE,
                f'@override cannot be used on field "{coordinate}" on subgraph "'
                f'{names[idx]}" since "{coordinate}" on "{f.override}" is marked with '
                "@requires, @provides or @external",
                [idx, from_idx],
                coordinate,
            )
            continue
        if from_field.external:
            pass  # already not resolved there: the @override changes nothing
        elif from_field.used:
            result.used.add(from_idx)
        else:
            result.unused.add(from_idx)
        label = f.override_label
        if label is not None:
            if LABEL.match(label) or PERCENT.match(label):
                result.labels[idx] = result.labels[from_idx] = label
            else:
                fail(
                    errors.OVERRIDE_LABEL_INVALID,
                    f'Invalid @override label "{label}" on field "{coordinate}" on subgraph '
                    f'"{names[idx]}"',
                    [idx],
                    coordinate,
                )
    return result
