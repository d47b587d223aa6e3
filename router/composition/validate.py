"""Rules one subgraph must satisfy on its own, before any merging.

Field sets of `@key`, `@requires` and `@provides` must select existing fields of the
right shape, `@external` must be used, and every referenced type must exist. Each
problem names the subgraph and the coordinate, with Apollo's code.
"""

from __future__ import annotations

from collections.abc import Callable

from graphql import (
    IntValueNode,
    ListTypeNode,
    ListValueNode,
    NonNullTypeNode,
    StringValueNode,
    TypeNode,
    ValueNode,
)

from router.composition import errors
from router.composition.context import validate_contexts
from router.composition.definitions import Subgraph, TypeDef, named_type
from router.composition.errors import CompositionError
from router.composition.fieldset import FieldSetSyntaxError, Selected, parse_field_set, walk
from router.composition.subgraph import BUILT_IN_SCALARS, SECURITY_DIRECTIVES

COMPOSITE = ("object", "interface", "union")
_Fail = Callable[[str, str, str], None]


def validate_subgraph(subgraph: Subgraph) -> list[CompositionError]:
    found: list[CompositionError] = []

    def fail(code: str, coordinate: str, message: str) -> None:
        found.append(CompositionError(code, message, (subgraph.name,), coordinate))

    for directive, where in subgraph.unknown:
        fail(
            errors.INVALID_GRAPHQL,
            where,
            f'Directive "{directive}" is unknown or not allowed on {where}.',
        )
    validate_contexts(subgraph, fail)
    for tdef in subgraph.types.values():
        _auth_on_interfaces(tdef, fail)
        _cost_directives(subgraph, tdef, fail)
        reserved = [tdef.name] if tdef.name.startswith("__") else []
        reserved += [f"{tdef.name}.{f}" for f in tdef.fields if f.startswith("__")]
        for coordinate in reserved:
            fail(
                errors.INVALID_GRAPHQL,
                coordinate,
                f'Name "{coordinate}" must not begin with "__", which is reserved by GraphQL '
                "introspection.",
            )
    known = set(subgraph.types) | BUILT_IN_SCALARS
    for tdef in subgraph.types.values():
        for fdef in tdef.fields.values():
            coordinate = f"{tdef.name}.{fdef.name}"
            referenced = [fdef.type_name] + [named_type(a.type) for a in fdef.args.values()]
            for name in referenced:
                if name not in known:
                    fail(errors.INVALID_GRAPHQL, coordinate, f'Unknown type "{name}".')
        _check_keys(subgraph, tdef, fail)
        _check_fields(subgraph, tdef, fail)
        if tdef.interface_object and not tdef.keys:
            fail(
                errors.INTERFACE_OBJECT_USAGE_ERROR,
                tdef.name,
                f'The @interfaceObject directive can only be applied to entity types but type "'
                f'{tdef.name}" has no @key in this subgraph.',
            )
    return found


def _selections(subgraph: Subgraph, parent: TypeDef, text: str) -> list[Selected] | str:
    """The walked field set, or the reason it cannot be read."""
    try:
        selection = parse_field_set(text)
    except FieldSetSyntaxError as error:
        return f"syntax error: {error}"
    items = list(walk(subgraph.types, parent, selection))
    for item in items:
        if item.field is None:
            return f'Cannot query field "{item.node.name.value}" on type "{item.parent.name}"'
        child = subgraph.types.get(item.field.type_name)
        composite = child is not None and child.kind in COMPOSITE
        if composite and item.node.selection_set is None:
            return f'field "{item.parent.name}.{item.field.name}" needs a selection of subfields'
        if not composite and item.node.selection_set is not None:
            return f'leaf field "{item.parent.name}.{item.field.name}" cannot have a selection'
    return items


def _check_keys(subgraph: Subgraph, tdef: TypeDef, fail: _Fail) -> None:
    for key in tdef.keys:
        where = f'On type "{tdef.name}", for @key(fields: "{key.fields}"): '
        items = _selections(subgraph, tdef, key.fields)
        if isinstance(items, str):
            fail(errors.KEY_INVALID_FIELDS, tdef.name, where + items)
            continue
        for item in items:
            assert item.field is not None
            coordinate = f"{item.parent.name}.{item.field.name}"
            if item.field.args:
                fail(
                    errors.KEY_FIELDS_HAS_ARGS,
                    coordinate,
                    where + f"field {coordinate} cannot be included because it has arguments",
                )
            # Lists are fine in a key (Apollo accepts them); abstract types are not.
            child = subgraph.types.get(item.field.type_name)
            if child is not None and child.kind in ("interface", "union"):
                fail(
                    errors.KEY_FIELDS_SELECT_INVALID_TYPE,
                    coordinate,
                    where + f'field "{coordinate}" is a {child.kind} type which is not allowed '
                    "in @key",
                )


def _must_be_external(item: Selected) -> bool:
    """Apollo's rule for @requires/@provides: a selected leaf must be @external unless an
    enclosing selected field already is."""
    assert item.field is not None
    leaf = item.node.selection_set is None
    return leaf and not item.field.external and not item.external_above


def _check_fields(subgraph: Subgraph, tdef: TypeDef, fail: _Fail) -> None:
    for fdef in tdef.fields.values():
        coordinate = f"{tdef.name}.{fdef.name}"
        if fdef.external and tdef.kind == "interface" and not tdef.interface_object:
            fail(
                errors.EXTERNAL_ON_INTERFACE,
                coordinate,
                f'Interface type field "{coordinate}" is marked @external but @external is '
                "not allowed on interface fields.",
            )
        elif fdef.external and not fdef.used:
            fail(
                errors.EXTERNAL_UNUSED,
                coordinate,
                f'Field "{coordinate}" is marked @external but is not used in any federation '
                "directive (@key, @provides, @requires) or to satisfy an interface.",
            )
        if fdef.override is not None and tdef.kind == "interface" and not tdef.interface_object:
            fail(
                errors.OVERRIDE_ON_INTERFACE,
                coordinate,
                f'@override cannot be used on field "{coordinate}" on subgraph "{subgraph.name}": '
                "@override is not supported on interface type fields.",
            )
        if fdef.override is not None and fdef.override == subgraph.name:
            fail(
                errors.OVERRIDE_FROM_SELF_ERROR,
                coordinate,
                f'Source and destination subgraphs "{subgraph.name}" are the same for '
                f'overridden field "{coordinate}"',
            )
        if fdef.requires is not None:
            where = f'On field "{coordinate}", for @requires(fields: "{fdef.requires}"): '
            items = _selections(subgraph, tdef, fdef.requires)
            if isinstance(items, str):
                fail(errors.REQUIRES_INVALID_FIELDS, coordinate, where + items)
            else:
                for item in items:
                    assert item.field is not None
                    if _must_be_external(item):
                        fail(
                            errors.REQUIRES_FIELDS_MISSING_EXTERNAL,
                            coordinate,
                            where + f'field "{item.parent.name}.{item.field.name}" should not be '
                            "part of a @requires since it is already provided by this subgraph "
                            "(it is not marked @external)",
                        )
        if fdef.provides is not None:
            where = f'On field "{coordinate}", for @provides(fields: "{fdef.provides}"): '
            target = subgraph.types.get(fdef.type_name)
            if target is None or target.kind not in COMPOSITE:
                fail(
                    errors.PROVIDES_ON_NON_OBJECT_FIELD,
                    coordinate,
                    where + f'field "{coordinate}" does not return a composite type',
                )
                continue
            items = _selections(subgraph, target, fdef.provides)
            if isinstance(items, str):
                fail(errors.PROVIDES_INVALID_FIELDS, coordinate, where + items)
                continue
            for item in items:
                assert item.field is not None
                if _must_be_external(item):
                    fail(
                        errors.PROVIDES_FIELDS_MISSING_EXTERNAL,
                        coordinate,
                        where + f'field "{item.parent.name}.{item.field.name}" should not be '
                        "part of a @provides since it is already provided by this subgraph "
                        "(it is not marked @external)",
                    )


def _cost_directives(subgraph: Subgraph, tdef: TypeDef, fail: _Fail) -> None:
    """Apollo's checks of the cost spec: no @cost on interface fields; @listSize only on
    lists (or with sizedFields naming list fields of the returned type), with a size that
    is not negative and slicing arguments the field has."""
    for fdef in tdef.fields.values():
        coordinate = f"{tdef.name}.{fdef.name}"
        for directive in fdef.applied.kept:
            name = directive.name.value
            if name == "cost" and tdef.kind == "interface":
                fail(
                    errors.COST_APPLIED_TO_INTERFACE_FIELD,
                    coordinate,
                    f'@cost cannot be applied to interface "{coordinate}"',
                )
            if name != "listSize":
                continue
            args = {a.name.value: a.value for a in directive.arguments or ()}
            sized = _strings(args.get("sizedFields"))
            if not sized and not _is_list(fdef.type):
                fail(
                    errors.LIST_SIZE_APPLIED_TO_NON_LIST,
                    coordinate,
                    f'"{coordinate}" is not a list',
                )
            assumed = args.get("assumedSize")
            if isinstance(assumed, IntValueNode) and int(assumed.value) < 0:
                fail(
                    errors.LIST_SIZE_INVALID_ASSUMED_SIZE,
                    coordinate,
                    f'Assumed size of "{coordinate}" cannot be negative',
                )
            for argument in _strings(args.get("slicingArguments")):
                if argument not in fdef.args:
                    fail(
                        errors.LIST_SIZE_INVALID_SLICING_ARGUMENT,
                        coordinate,
                        f'Slicing argument "{argument}" is not an argument of "{coordinate}"',
                    )
            target = subgraph.types.get(named_type(fdef.type))
            for field_name in sized:
                sized_def = target.fields.get(field_name) if target is not None else None
                if sized_def is None:
                    type_name = named_type(fdef.type)
                    fail(
                        errors.LIST_SIZE_INVALID_SIZED_FIELD,
                        coordinate,
                        f'Sized field "{field_name}" is not a field on type "{type_name}"',
                    )
                elif not _is_list(sized_def.type):
                    fail(
                        errors.LIST_SIZE_APPLIED_TO_NON_LIST,
                        coordinate,
                        f'Sized field "{named_type(fdef.type)}.{field_name}" is not a list',
                    )


def _strings(value: ValueNode | None) -> list[str]:
    if not isinstance(value, ListValueNode):
        return []
    return [v.value for v in value.values if isinstance(v, StringValueNode)]


def _is_list(node: TypeNode) -> bool:
    if isinstance(node, NonNullTypeNode):
        node = node.type
    return isinstance(node, ListTypeNode)


def _auth_on_interfaces(tdef: TypeDef, fail: Callable[[str, str, str], None]) -> None:
    """Apollo refuses authorization directives on interfaces, their fields and interface
    objects: requirements must sit on the concrete types a query resolves."""
    if tdef.kind != "interface":
        return
    kind = "interface object" if tdef.interface_object else "interface"
    elements = [(kind, tdef.name, tdef.applied)]
    elements.extend(("field", f"{tdef.name}.{n}", f.applied) for n, f in tdef.fields.items())
    for name in SECURITY_DIRECTIVES:
        for element_kind, coordinate, applied in elements:
            present = {
                "authenticated": applied.authenticated,
                "requiresScopes": bool(applied.scopes),
                "policy": bool(applied.policies),
            }[name]
            if present:
                fail(
                    errors.AUTH_REQUIREMENTS_APPLIED_ON_INTERFACE,
                    coordinate,
                    f'Invalid use of @{name} on {element_kind} "{coordinate}": @{name} cannot '
                    "be applied on interfaces, interface fields and interface objects",
                )
