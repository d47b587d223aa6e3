"""FieldSet strings (`@key`, `@requires`, `@provides`): parse them and walk them over a subgraph.

The walk yields every selected field with the type it was selected on, so validation,
shareability and "is this field used" all read a selection the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from graphql import (
    FieldNode,
    GraphQLSyntaxError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
    parse_type,
)

from router.composition.definitions import Applied, FieldDef, TypeDef


class FieldSetSyntaxError(ValueError):
    pass


def parse_field_set(text: str) -> SelectionSetNode:
    try:
        document = parse("{" + text + "}", no_location=True)
    except GraphQLSyntaxError as error:
        raise FieldSetSyntaxError(error.message) from None
    operation = document.definitions[0]
    if len(document.definitions) != 1 or not isinstance(operation, OperationDefinitionNode):
        raise FieldSetSyntaxError("not a selection set")
    return operation.selection_set


@dataclass(frozen=True, slots=True)
class Selected:
    """One field of a field set: where it was selected, and what it names (None: unknown)."""

    parent: TypeDef
    node: FieldNode
    field: FieldDef | None
    depth: int
    external_above: bool = False  # some enclosing selected field is @external


def walk(
    types: Mapping[str, TypeDef],
    parent: TypeDef,
    selection: SelectionSetNode,
    depth: int = 0,
    external_above: bool = False,
) -> Iterator[Selected]:
    for node in selection.selections:
        if isinstance(node, InlineFragmentNode):
            target = parent
            if node.type_condition is not None:
                found = types.get(node.type_condition.name.value)
                if found is None:
                    continue
                target = found
            yield from walk(types, target, node.selection_set, depth, external_above)
            continue
        if not isinstance(node, FieldNode):
            continue
        if node.name.value == "__typename":
            # Always selectable, and never @external: Apollo accepts it only below an
            # external field in @requires/@provides.
            yield Selected(parent, node, typename_field(), depth, external_above)
            continue
        field = parent.fields.get(node.name.value)
        yield Selected(parent, node, field, depth, external_above)
        if field is not None and node.selection_set is not None:
            child = types.get(field.type_name)
            if child is not None:
                # An interface field counts as external when an implementation's is.
                external = field.external or any(
                    other.fields[field.name].external
                    for other in types.values()
                    if parent.name in other.interfaces and field.name in other.fields
                )
                yield from walk(
                    types, child, node.selection_set, depth + 1, external_above or external
                )


def typename_field() -> FieldDef:
    return FieldDef("__typename", parse_type("String!"), None, {}, Applied())


def target_fields(
    types: Mapping[str, TypeDef], parent: TypeDef, text: str
) -> list[tuple[str, str]]:
    """(type, field) coordinates a field set selects, implementations of interface fields
    included (Apollo counts those as used and shareable too); unparsable sets select nothing."""
    try:
        selection = parse_field_set(text)
    except FieldSetSyntaxError:
        return []
    found: list[tuple[str, str]] = []
    for item in walk(types, parent, selection):
        if item.field is None or item.node.name.value == "__typename":
            continue
        found.append((item.parent.name, item.field.name))
        if item.parent.kind == "interface":
            for other in types.values():
                if item.parent.name in other.interfaces and item.field.name in other.fields:
                    found.append((other.name, item.field.name))
    return found
