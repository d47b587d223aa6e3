"""The deferred fragments of an operation (`@defer`), found once before planning.

Each active `... @defer` (or `...Name @defer`) at one place in the response is one deferred
block: its path (with `@` where a list is crossed), its label, the block it is nested in
(None: the primary part) and the concrete types it applies to there. The planner plans each
block's fetches apart from the primary's (router/planner/builder.py), and the executor sends
each block as its own incremental part (router/incremental.py). A fragment under a list is
one block whose part carries one item per list element.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    InlineFragmentNode,
    NamedTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionNode,
    SelectionSetNode,
    get_named_type,
    is_abstract_type,
    is_leaf_type,
    print_ast,
)

from router.planner.collect import Deferral, FieldCollector, deferred
from router.planner.requirements import list_depth
from router.types import PlanPath

# (plan path, n-th deferred fragment met there): the same fragment reached at two places is
# two blocks. Unlike the node itself, this names the block in the client's operation and in
# the one planned (authorization may take fields out, never a fragment).
BlockKey = tuple[PlanPath, int]
# (id of the fragment node, plan path): how the planner recognises a block it meets.
NodeKey = tuple[int, PlanPath]


@dataclass(slots=True)
class DeferredFragment:
    key: BlockKey
    node: NodeKey
    label: str | None
    path: PlanPath
    parent: BlockKey | None
    selection_set: SelectionSetNode
    # Concrete types of the objects at `path` the fragment applies to.
    types: set[str] = field(default_factory=set)
    # The root type when the fragment sits on the operation's root.
    root: bool = False


def find_deferred(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, bool],
) -> dict[NodeKey, DeferredFragment]:
    """Every active deferred fragment of the operation, parents before children."""
    collector = FieldCollector(schema, fragments, variables)
    found: dict[NodeKey, DeferredFragment] = {}
    counts: dict[PlanPath, int] = {}
    kind = operation.operation
    root_type = schema.mutation_type if kind is OperationType.MUTATION else schema.query_type
    if root_type is None:
        return found

    def walk(
        type_name: str, sets: list[SelectionSetNode], path: PlanPath, parent: BlockKey | None
    ) -> None:
        gtype = schema.get_type(type_name)
        if gtype is None:
            return
        concrete = (
            [t.name for t in schema.get_possible_types(gtype)]
            if is_abstract_type(gtype)
            else [type_name]
        )
        for cname in concrete:
            ctype = schema.get_type(cname)
            defers: list[Deferral] = []
            fields = collector.collect(cname, sets, defers)
            for deferral in defers:
                node = (id(deferral.node), path)
                block = found.get(node)
                if block is None:
                    ordinal = counts[path] = counts.get(path, -1) + 1
                    block = found[node] = DeferredFragment(
                        (path, ordinal),
                        node,
                        deferral.label,
                        path,
                        parent,
                        deferral.selection_set,
                        root=ctype is root_type,
                    )
                block.types.add(cname)
                walk(cname, [deferral.selection_set], path, block.key)
            for response_key, nodes in fields.items():
                fdef = getattr(ctype, "fields", {}).get(nodes[0].name.value)
                if fdef is None or is_leaf_type(get_named_type(fdef.type)):
                    continue
                subs = [n.selection_set for n in nodes if n.selection_set]
                sub_path = (*path, response_key, *("@",) * list_depth(fdef.type))
                walk(get_named_type(fdef.type).name, subs, sub_path, parent)

    walk(root_type.name, [operation.selection_set], (), None)
    return found


def without_deferred(
    selection_set: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, bool],
) -> SelectionSetNode:
    """The selection set with its active deferred fragments taken out (named fragments
    inlined), as query plans show each part's subselection."""
    selections: list[SelectionNode] = []
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            if sel.selection_set is not None:
                inner = without_deferred(sel.selection_set, fragments, variables)
                sel = FieldNode(
                    alias=sel.alias,
                    name=sel.name,
                    arguments=sel.arguments,
                    directives=sel.directives,
                    selection_set=inner,
                )
            selections.append(sel)
            continue
        if deferred(sel.directives, variables)[0]:
            continue
        if isinstance(sel, FragmentSpreadNode):
            definition = fragments.get(sel.name.value)
            if definition is None:
                continue
            condition: NamedTypeNode | None = definition.type_condition
            inner_set = definition.selection_set
        else:
            assert isinstance(sel, InlineFragmentNode)
            condition, inner_set = sel.type_condition, sel.selection_set
        inner = without_deferred(inner_set, fragments, variables)
        if inner.selections:
            directives = tuple(d for d in sel.directives or () if d.name.value != "defer")
            selections.append(
                InlineFragmentNode(
                    type_condition=condition, directives=directives, selection_set=inner
                )
            )
    return SelectionSetNode(selections=tuple(selections))


def subselection(
    selection_set: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, bool],
) -> str:
    """One line, as Apollo's plans print a defer block's subselection: `{ t { v0 } }`."""
    stripped = without_deferred(selection_set, fragments, variables)
    if not stripped.selections:
        return ""
    return " ".join(print_ast(stripped).split())
