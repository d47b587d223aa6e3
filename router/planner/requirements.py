"""Selections the router adds for itself: entity keys and `@requires` fields.

They are aliased when they could collide with the client's own response keys (fields with
arguments, or a client alias that reuses the name), and turned into `RepField` shapes
that tell the executor how to read a representation back out of the merged data.
"""

from __future__ import annotations

import hashlib

from graphql import (
    FieldNode,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    NameNode,
    ObjectValueNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    is_abstract_type,
    print_ast,
)

from router.planner.collect import Collected
from router.planner.selection import RepField

TYPENAME_NODE = FieldNode(name=NameNode(value="__typename"), arguments=(), directives=())


def field_def(schema: GraphQLSchema, tname: str, fname: str) -> GraphQLField:
    gtype = schema.get_type(tname)
    assert isinstance(gtype, GraphQLObjectType | GraphQLInterfaceType), tname
    return gtype.fields[fname]


def list_depth(gql_type: GraphQLOutputType) -> int:
    """How many lists a field's type wraps (a `@` each in plan paths)."""
    depth = 0
    t: object = gql_type
    while isinstance(t, GraphQLNonNull | GraphQLList):
        if isinstance(t, GraphQLList):
            depth += 1
        t = t.of_type
    return depth


def named_type(gql_type: GraphQLOutputType) -> GraphQLNamedType:
    named = get_named_type(gql_type)
    assert named is not None
    return named


def _value_variables(value: ValueNode, found: set[str]) -> None:
    if isinstance(value, VariableNode):
        found.add(value.name.value)
    elif isinstance(value, ListValueNode):
        for item in value.values:
            _value_variables(item, found)
    elif isinstance(value, ObjectValueNode):
        for f in value.fields:
            _value_variables(f.value, found)


def print_args(node: FieldNode) -> tuple[str, set[str]]:
    """Arguments as subgraph query text, and the variables they use."""
    if not node.arguments:
        return "", set()
    found: set[str] = set()
    parts = []
    for arg in node.arguments:
        _value_variables(arg.value, found)
        parts.append(f"{arg.name.value}:{print_ast(arg.value)}")
    return "(" + ",".join(parts) + ")", found


def internalize(
    schema: GraphQLSchema, tname: str, sel_set: SelectionSetNode, client: Collected
) -> SelectionSetNode:
    """Alias fields with arguments, or clashing with a client response key, so that the
    router's own selections never overwrite what the client asked for."""
    selections: list[FieldNode | InlineFragmentNode] = []
    for sel in sel_set.selections:
        if isinstance(sel, InlineFragmentNode):
            cond = sel.type_condition.name.value if sel.type_condition else tname
            inner = internalize(schema, cond, sel.selection_set, {})
            selections.append(
                InlineFragmentNode(
                    type_condition=sel.type_condition, directives=(), selection_set=inner
                )
            )
            continue
        if not isinstance(sel, FieldNode):
            continue
        fname = sel.name.value
        args, _ = print_args(sel)
        clash = client.get(fname)
        alias = None
        if args or (
            clash is not None and (clash[0].name.value != fname or print_args(clash[0])[0] != args)
        ):
            digest = hashlib.sha1(args.encode()).hexdigest()[:6]
            alias = NameNode(value=f"_{fname}_{digest}")
        inner_set = None
        if sel.selection_set is not None and fname != "__typename":
            named = named_type(field_def(schema, tname, fname).type)
            inner_set = internalize(schema, named.name, sel.selection_set, {})
            if is_abstract_type(named):
                inner_set = SelectionSetNode(selections=(TYPENAME_NODE, *inner_set.selections))
        selections.append(
            FieldNode(
                alias=alias,
                name=sel.name,
                arguments=sel.arguments,
                directives=(),
                selection_set=inner_set,
            )
        )
    return SelectionSetNode(selections=tuple(selections))


def rep_fields(
    schema: GraphQLSchema, tname: str, sel_set: SelectionSetNode
) -> tuple[RepField, ...]:
    """How to read an (internalized) selection back out of merged data."""
    fields: list[RepField] = []
    for sel in sel_set.selections:
        if isinstance(sel, InlineFragmentNode):
            cond = sel.type_condition.name.value if sel.type_condition else tname
            if cond == tname:
                fields.extend(rep_fields(schema, tname, sel.selection_set))
            continue
        assert isinstance(sel, FieldNode)
        fname = sel.name.value
        key = sel.alias.value if sel.alias else fname
        sub = None
        fragments: tuple[tuple[str, tuple[RepField, ...]], ...] = ()
        if sel.selection_set is not None:
            named = named_type(field_def(schema, tname, fname).type)
            sub = rep_fields(schema, named.name, sel.selection_set)
            fragments = tuple(
                (
                    inner.type_condition.name.value,
                    rep_fields(schema, inner.type_condition.name.value, inner.selection_set),
                )
                for inner in sel.selection_set.selections
                if isinstance(inner, InlineFragmentNode)
                and inner.type_condition is not None
                and inner.type_condition.name.value != named.name
            )
        fields.append(RepField(fname, key, sub, fragments))
    return tuple(fields)


def rep_conflict(a: tuple[RepField, ...], b: tuple[RepField, ...]) -> bool:
    """True when two representations need one name read from different data keys
    (e.g. `price(currency: "USD")` and `price(currency: "EUR")`): they cannot share a fetch."""
    by_name = {f.name: f for f in a}
    for f in b:
        old = by_name.get(f.name)
        if old is None:
            continue
        if old.key != f.key:
            return True
        if old.sub is not None and f.sub is not None and rep_conflict(old.sub, f.sub):
            return True
    return False
