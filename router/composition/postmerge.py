"""Rules on the merged schema: interface implementations and `@inaccessible` consistency.

These can only be judged once every subgraph's contribution is merged: a type may be
hidden in one subgraph and referenced in another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from graphql import NonNullTypeNode

from router.composition import errors
from router.composition.definitions import FieldDef, Subgraph, TypeDef, named_type
from router.composition.errors import CompositionError
from router.composition.fieldset import FieldSetSyntaxError, parse_field_set, walk
from router.composition.model import MergedSchema, MergedType

_Fail = Callable[[str, str, MergedType, str], None]


def validate_merged(schema: MergedSchema) -> list[CompositionError]:
    found: list[CompositionError] = []
    graph_names = {g.enum: g.name for g in schema.graphs}

    def fail(code: str, message: str, merged: MergedType, coordinate: str) -> None:
        subgraphs = tuple(graph_names[g] for g in merged.graphs if g in graph_names)
        found.append(CompositionError(code, message, subgraphs, coordinate))

    if "Query" not in schema.types:
        found.append(
            CompositionError(
                errors.NO_QUERIES,
                "No queries found in any subgraph: a supergraph must have a query root type.",
            )
        )
    hidden = {name for name, t in schema.types.items() if t.applied.inaccessible}
    for merged in schema.types.values():
        for iface in merged.interfaces:
            idef = schema.types.get(iface)
            for fname in idef.fields if idef else ():
                if fname not in merged.fields:
                    fail(
                        errors.INTERFACE_FIELD_NO_IMPLEM,
                        f'Interface field "{iface}.{fname}" is declared but type "{merged.name}", '
                        f'which implements "{iface}", does not have field "{fname}" in any '
                        "subgraph.",
                        merged,
                        f"{merged.name}.{fname}",
                    )
        if merged.name in hidden:
            continue
        _check_references(merged, hidden, fail)
        children = (
            [v.applied.inaccessible for v in merged.values.values()]
            if merged.kind == "enum"
            else [m in hidden for m in merged.members]
            if merged.kind == "union"
            else [f.applied.inaccessible for f in merged.fields.values()]
        )
        if children and all(children):
            fail(
                errors.ONLY_INACCESSIBLE_CHILDREN,
                f'Type "{merged.name}" is in the API schema but all of its members are '
                "@inaccessible.",
                merged,
                merged.name,
            )
    return found


def _check_references(merged: MergedType, hidden: set[str], fail: _Fail) -> None:
    for fdef in merged.fields.values():
        if fdef.applied.inaccessible:
            continue
        coordinate = f"{merged.name}.{fdef.name}"
        target = named_type(fdef.type)
        if target in hidden:
            fail(
                errors.REFERENCED_INACCESSIBLE,
                f'Type "{target}" is @inaccessible but is referenced by "{coordinate}", which is '
                "in the API schema.",
                merged,
                coordinate,
            )
        for arg in fdef.args.values():
            arg_coordinate = f"{coordinate}({arg.name}:)"
            if arg.applied.inaccessible:
                if arg.default is None and arg.type.kind == "non_null_type":
                    fail(
                        errors.REQUIRED_INACCESSIBLE,
                        f'Argument "{arg_coordinate}" is @inaccessible but is a required '
                        "argument of its field.",
                        merged,
                        arg_coordinate,
                    )
                continue
            if named_type(arg.type) in hidden:
                fail(
                    errors.REFERENCED_INACCESSIBLE,
                    f'Type "{named_type(arg.type)}" is @inaccessible but is referenced by "'
                    f'{arg_coordinate}", which is in the API schema.',
                    merged,
                    arg_coordinate,
                )
    if merged.kind == "input":
        for fdef in merged.fields.values():
            if (
                fdef.applied.inaccessible
                and fdef.default is None
                and (fdef.type.kind == "non_null_type")
            ):
                fail(
                    errors.REQUIRED_INACCESSIBLE,
                    f'Input field "{merged.name}.{fdef.name}" is @inaccessible but is a required '
                    "input field of its type.",
                    merged,
                    f"{merged.name}.{fdef.name}",
                )


def validate_requires_arguments(subgraphs: Sequence[Subgraph]) -> list[CompositionError]:
    """Arguments given in a @requires must suit every other subgraph resolving the field:
    each of its required arguments given, none it lacks (Apollo checks this against the
    merged schema, so it is a post-merge rule)."""
    found: list[CompositionError] = []
    for subgraph in subgraphs:
        for tdef in subgraph.types.values():
            for fdef in tdef.fields.values():
                if not fdef.requires:
                    continue
                coordinate = f"{tdef.name}.{fdef.name}"
                where = f'On field "{coordinate}", for @requires(fields: "{fdef.requires}"): '
                for other, problem in _requires_argument_problems(subgraph, subgraphs, tdef, fdef):
                    found.append(
                        CompositionError(
                            errors.REQUIRES_INVALID_FIELDS,
                            where + problem,
                            (subgraph.name, other.name),
                            coordinate,
                        )
                    )
    return found


def _requires_argument_problems(
    subgraph: Subgraph, subgraphs: Sequence[Subgraph], tdef: TypeDef, fdef: FieldDef
) -> Iterator[tuple[Subgraph, str]]:
    assert fdef.requires is not None
    try:
        selection = parse_field_set(fdef.requires)
    except FieldSetSyntaxError:
        return  # reported by the per-subgraph rules
    for item in walk(subgraph.types, tdef, selection):
        if item.field is None or item.node.name.value == "__typename":
            continue
        given = {a.name.value for a in item.node.arguments or ()}
        target = f"{item.parent.name}.{item.field.name}"
        for other in subgraphs:
            owner = other.types.get(item.parent.name)
            resolved = owner.fields.get(item.field.name) if owner else None
            if other is subgraph or resolved is None or resolved.external:
                continue
            for name, arg in resolved.args.items():
                required = isinstance(arg.type, NonNullTypeNode) and arg.default is None
                if required and name not in given:
                    yield (
                        other,
                        (
                            f'no value provided for argument "{name}" of field "{target}" but a '
                            f'value is mandatory as "{name}" is required in subgraph "{other.name}"'
                        ),
                    )
            for name in sorted(given - set(resolved.args)):
                yield (
                    other,
                    (
                        f'cannot provide a value for argument "{name}" of field "{target}" as '
                        f'argument "{name}" is not defined in subgraph "{other.name}"'
                    ),
                )
