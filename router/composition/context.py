"""`@context` / `@fromContext` (federation 2.8): the rules Apollo checks in one subgraph.

A type sets a named context; an argument of a field below it takes its value from that
context, `@fromContext(field: "$name { selection }")`. The selection is one field (nested
single fields allowed) or inline fragments, one per type setting the context, each
selecting such a field; its type must be the argument's type, nullability aside. The
field's type needs a resolvable key, since the router sends the value along an
`_entities` call. Messages are Apollo's, so both composers' reports read alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from graphql import (
    FieldNode,
    GraphQLSyntaxError,
    InlineFragmentNode,
    ListTypeNode,
    NamedTypeNode,
    NameNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    SelectionSetNode,
    TypeNode,
    parse,
    print_ast,
)

from router.composition import errors
from router.composition.definitions import Applied, Subgraph, TypeDef, named_type
from router.composition.errors import CompositionError
from router.composition.model import MergedSchema
from router.composition.subgraph import parse_context

_NAME = re.compile(r"^[A-Za-z]\w*$")
_Fail = Callable[[str, str, str], None]


class _Invalid(Exception):
    pass


def validate_contexts(subgraph: Subgraph, fail: _Fail) -> None:
    setters: dict[str, list[TypeDef]] = {}
    for tdef in subgraph.types.values():
        for name in tdef.contexts:
            if "_" in name:
                fail(
                    errors.CONTEXT_NAME_INVALID,
                    tdef.name,
                    f'Context name "{name}" may not contain an underscore.',
                )
            elif not _NAME.match(name):
                fail(
                    errors.CONTEXT_NAME_INVALID,
                    tdef.name,
                    f'Context name "{name}" is invalid. It should have only alphanumeric '
                    "characters.",
                )
            setters.setdefault(name, []).append(tdef)
    for tdef in subgraph.types.values():
        for fdef in tdef.fields.values():
            for arg in fdef.args.values():
                if arg.from_context is None:
                    continue
                coordinate = f"{tdef.name}.{fdef.name}({arg.name}:)"
                if tdef.kind != "object" or tdef.interface_object:
                    fail(
                        errors.CONTEXT_NOT_SET,
                        coordinate,
                        "@fromContext argument cannot be used on a field that exists on an "
                        f'abstract type "{coordinate}".',
                    )
                    continue
                for iface in tdef.interfaces:
                    idef = subgraph.types.get(iface)
                    if idef is not None and fdef.name in idef.fields:
                        fail(
                            errors.CONTEXT_NOT_SET,
                            coordinate,
                            "@fromContext argument cannot be used on a field implementing an "
                            f'interface field "{iface}.{fdef.name}".',
                        )
                if arg.default is not None:
                    fail(
                        errors.CONTEXT_NOT_SET,
                        coordinate,
                        f'@fromContext arguments may not have a default value: "{coordinate}".',
                    )
                parsed = parse_context(arg.from_context)
                if parsed is None:
                    fail(
                        errors.NO_CONTEXT_IN_SELECTION,
                        coordinate,
                        f'@fromContext argument does not reference a context "{arg.from_context}".',
                    )
                    continue
                context, selection = parsed
                locations = setters.get(context)
                if locations is None:
                    fail(
                        errors.CONTEXT_NOT_SET,
                        coordinate,
                        f'Context "{context}" is used at location "{coordinate}" but is never set.',
                    )
                else:
                    problem = _check_value(subgraph, locations, selection, arg.type)
                    if problem is not None:
                        fail(
                            errors.CONTEXT_INVALID_SELECTION,
                            coordinate,
                            f'Context "{context}" is used in "{coordinate}" but the selection is '
                            f"invalid{problem}",
                        )
                if not any(key.is_resolvable for key in tdef.keys):
                    fail(
                        errors.CONTEXT_NO_RESOLVABLE_KEY,
                        tdef.name,
                        f'Object "{tdef.name}" has no resolvable key but has a field with a '
                        "contextual argument.",
                    )


def parse_selection(selection: str) -> SelectionSetNode:
    """A context selection as a selection set (`prop` and ` { prop }` alike)."""
    text = selection if selection.strip().startswith("{") else "{" + selection + "}"
    document = parse(text, no_location=True)
    operation = document.definitions[0]
    if len(document.definitions) != 1 or not isinstance(operation, OperationDefinitionNode):
        raise GraphQLSyntaxError(None, 0, "not a selection set")  # type: ignore[arg-type]
    return operation.selection_set


def _check_value(
    subgraph: Subgraph, locations: list[TypeDef], selection: str, expected: TypeNode
) -> str | None:
    """None when the selection is valid at every type setting the context, else the
    rest of Apollo's message (from ": ..." or " for type ...")."""
    try:
        parsed = parse_selection(selection)
    except GraphQLSyntaxError as error:
        return f": {error.message}"
    selections = parsed.selections
    if not selections:
        return ": no selection is made"
    conditions: list[str] = []
    if isinstance(selections[0], FieldNode):
        if len(selections) != 1:
            return ": multiple selections are made"
    elif isinstance(selections[0], InlineFragmentNode):
        if not all(isinstance(s, InlineFragmentNode) for s in selections):
            return ": multiple fields could be selected"
        conditions = [
            s.type_condition.name.value
            for s in selections
            if isinstance(s, InlineFragmentNode) and s.type_condition is not None
        ]
        if len(set(conditions)) != len(selections):
            return ": type conditions have same name"
    else:
        return ": fragment spread is not allowed"
    used: set[str] = set()
    shown = print_ast(expected)
    for location in locations:
        try:
            _shape(subgraph, location, parsed)
        except _Invalid as error:
            return f" for type {location.name}. Error: {error}"
        if _has(parsed, lambda f: bool(f.directives)):
            return ": directives are not allowed in the selection"
        if _has(parsed, lambda f: f.alias is not None):
            return ": aliases are not allowed in the selection"
        if not conditions:
            resolved = _resolved_type(subgraph, location, parsed)
            if resolved is None or not _implements(resolved, expected):
                printed = "undefined" if resolved is None else print_ast(resolved)
                return (
                    f': the type of the selection "{printed}" does not match the expected type '
                    f'"{shown}"'
                )
            continue
        matching = []
        for fragment in parsed.selections:
            assert isinstance(fragment, InlineFragmentNode)
            if fragment.type_condition is None:
                return ': inline fragments must have type conditions"'
            condition = subgraph.types.get(fragment.type_condition.name.value)
            if condition is None or condition.kind != "object":
                return ': type conditions must be an object type"'
            if condition.name in _runtime_types(subgraph, location):
                matching.append((condition, fragment.selection_set))
                used.add(condition.name)
        if not matching:
            return f': no type condition matches the location "{location.name}"'
        for condition, inner in matching:
            resolved = _resolved_type(subgraph, condition, inner)
            if resolved is None:
                return f': the type of the selection does not match the expected type "{shown}"'
            if not _implements(resolved, expected):
                return (
                    f': the type of the selection "{print_ast(resolved)}" does not match the '
                    f'expected type "{shown}"'
                )
    unused = [c for c in conditions if c not in used]
    if unused:
        return f': type condition "{unused[0]}" is never used.'
    return None


def _runtime_types(subgraph: Subgraph, tdef: TypeDef) -> set[str]:
    if tdef.kind == "object":
        return {tdef.name}
    if tdef.kind == "union":
        return set(tdef.members)
    return {
        n for n, t in subgraph.types.items() if t.kind == "object" and tdef.name in t.interfaces
    }


def _shape(subgraph: Subgraph, parent: TypeDef, selection: SelectionSetNode) -> None:
    """Raise _Invalid, in graphql's words, when a field is unknown or misused."""
    for node in selection.selections:
        if isinstance(node, InlineFragmentNode):
            target = parent
            if node.type_condition is not None:
                found = subgraph.types.get(node.type_condition.name.value)
                if found is None:
                    raise _Invalid(f'Unknown type "{node.type_condition.name.value}".')
                target = found
            _shape(subgraph, target, node.selection_set)
            continue
        if not isinstance(node, FieldNode):
            raise _Invalid("fragment spread is not allowed")
        fdef = parent.fields.get(node.name.value)
        if fdef is None:
            raise _Invalid(f'Cannot query field "{node.name.value}" on type "{parent.name}".')
        child = subgraph.types.get(fdef.type_name)
        composite = child is not None and child.kind in ("object", "interface", "union")
        if composite and node.selection_set is None:
            raise _Invalid(f'Field "{parent.name}.{fdef.name}" must have a selection of subfields.')
        if not composite and node.selection_set is not None:
            raise _Invalid(f'Field "{parent.name}.{fdef.name}" cannot have a selection.')
        if composite and node.selection_set is not None:
            assert child is not None
            _shape(subgraph, child, node.selection_set)


def _has(selection: SelectionSetNode, test: Callable[[FieldNode], bool]) -> bool:
    for node in selection.selections:
        if isinstance(node, FieldNode) and test(node):
            return True
        if isinstance(node, InlineFragmentNode) and bool(node.directives):
            return True
        inner = getattr(node, "selection_set", None)
        if inner is not None and _has(inner, test):
            return True
    return False


def _resolved_type(
    subgraph: Subgraph, parent: TypeDef, selection: SelectionSetNode
) -> TypeNode | None:
    """The type a selection yields: its single leaf's named type wrapped in the lists of
    every field on the way (Apollo keeps lists and drops non-null); None when its fields
    disagree or it selects no field."""
    found: list[TypeNode | None] = []
    for node in selection.selections:
        if not isinstance(node, FieldNode):
            found.append(None)
            continue
        fdef = parent.fields[node.name.value]
        if node.selection_set is not None:
            child = subgraph.types[fdef.type_name]
            inner = _resolved_type(subgraph, child, node.selection_set)
            found.append(None if inner is None else _wrap(fdef.type, inner))
        else:
            found.append(_wrap(fdef.type, _named(fdef.type_name)))
    if not found or any(t is None for t in found):
        return None
    first = found[0]
    assert first is not None
    printed = print_ast(first)
    return first if all(print_ast(t) == printed for t in found if t is not None) else None


def _named(name: str) -> NamedTypeNode:
    return NamedTypeNode(name=NameNode(value=name))


def _wrap(original: TypeNode, resolved: TypeNode) -> TypeNode:
    lists = 0
    node = original
    while isinstance(node, ListTypeNode | NonNullTypeNode):
        if isinstance(node, ListTypeNode):
            lists += 1
        node = node.type
    for _ in range(lists):
        resolved = ListTypeNode(type=resolved)
    return resolved


def _implements(field_type: TypeNode, implemented: TypeNode) -> bool:
    """graphql's "valid implementation field type", as Apollo applies it here."""
    if isinstance(field_type, NonNullTypeNode):
        inner = implemented.type if isinstance(implemented, NonNullTypeNode) else implemented
        return _implements(field_type.type, inner)
    if isinstance(field_type, ListTypeNode) and isinstance(implemented, ListTypeNode):
        return _implements(field_type.type, implemented.type)
    return (
        isinstance(field_type, NamedTypeNode)
        and isinstance(implemented, NamedTypeNode)
        and field_type.name.value == implemented.name.value
    )


# ---------------------------------------------------------------------- authorization
Requirements = tuple[bool, list[list[str]] | None, list[list[str]] | None]


def _conjunction(dnfs: list[list[list[str]]]) -> list[list[str]] | None:
    """Apollo's DNF conjunction: every way to pick one alternative of each."""
    if not dnfs:
        return None
    result: list[list[str]] = [[]]
    for dnf in dnfs:
        result = [sorted(set(a) | set(b)) for a in result for b in (dnf or [[]])]
    return result


def _requirements(*applied: Applied) -> Requirements:
    return (
        any(a.authenticated for a in applied),
        _conjunction([d for a in applied for d in a.scopes]),
        _conjunction([d for a in applied for d in a.policies]),
    )


def _implies(first: list[list[str]] | None, second: list[list[str]] | None) -> bool:
    firsts = first or [[]]
    seconds = second or [[]]
    return all(any(set(inner) <= set(f) for inner in seconds) for f in firsts)


def _satisfies(own: Requirements, other: Requirements) -> bool:
    return (own[0] or not other[0]) and _implies(own[1], other[1]) and _implies(own[2], other[2])


def check_context_authorization(schema: MergedSchema) -> list[CompositionError]:
    """A field reading a context must require at least what the data it reads requires
    (the types setting the context, each field of the selection and its type): otherwise
    the router would fetch protected data for a client allowed the field only, and hand it
    to a subgraph. Apollo's MISSING_TRANSITIVE_AUTH_REQUIREMENTS."""
    found: list[CompositionError] = []
    setters: dict[str, list[str]] = {}
    for merged in schema.types.values():
        for context in merged.contexts:
            setters.setdefault(context, []).append(merged.name)
    graph_names = {g.enum: g.name for g in schema.graphs}
    for parent in schema.types.values():
        for fdef in parent.fields.values():
            coordinate = f"{parent.name}.{fdef.name}"
            own = _requirements(parent.applied, fdef.applied)
            for join in fdef.joins or ():
                for context, _, _, selection in join.context_arguments:
                    for holder in setters.get(context, []):
                        problem = _context_problem(schema, own, holder, selection, context)
                        if problem is not None:
                            found.append(
                                CompositionError(
                                    errors.MISSING_TRANSITIVE_AUTH_REQUIREMENTS,
                                    f'Field "{coordinate}" does not specify necessary '
                                    "@authenticated, @requiresScopes and/or @policy auth "
                                    f"requirements to access the transitive {problem} "
                                    "@fromContext selection set.",
                                    (graph_names.get(join.graph or "", ""),),
                                    coordinate,
                                )
                            )
    return found


def _context_problem(
    schema: MergedSchema, own: Requirements, holder: str, selection: str, context: str
) -> str | None:
    """What the field lacks to read `selection` on `holder`, in Apollo's words."""
    if not _satisfies(own, _requirements(schema.types[holder].applied)):
        return f"data in context {context} from"
    try:
        parsed = parse_selection(selection)
    except GraphQLSyntaxError:
        return None
    return _selection_problem(schema, own, holder, parsed)


def _selection_problem(
    schema: MergedSchema, own: Requirements, tname: str, selection: SelectionSetNode
) -> str | None:
    merged = schema.types.get(tname)
    if merged is None:
        return None
    for node in selection.selections:
        if isinstance(node, InlineFragmentNode):
            target = node.type_condition.name.value if node.type_condition else tname
            condition = schema.types.get(target)
            if condition is not None and not _satisfies(own, _requirements(condition.applied)):
                return f'inline fragment type condition "{target}" from'
            problem = _selection_problem(schema, own, target, node.selection_set)
        elif isinstance(node, FieldNode) and node.name.value in merged.fields:
            fdef = merged.fields[node.name.value]
            returned = schema.types.get(named_type(fdef.type))
            returned_applied = returned.applied if returned is not None else Applied()
            if not _satisfies(own, _requirements(fdef.applied)) or not _satisfies(
                own, _requirements(returned_applied)
            ):
                return f'field "{tname}.{fdef.name}" data from'
            problem = (
                _selection_problem(schema, own, named_type(fdef.type), node.selection_set)
                if node.selection_set is not None
                else None
            )
        else:
            problem = None
        if problem is not None:
            return problem
    return None
