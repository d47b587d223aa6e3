"""`@fromContext` arguments: where their values come from, planned once per operation.

A field with contextual arguments (`join__field(contextArguments:)`) is always fetched
through `_entities`, as Apollo does: each value is read from the nearest enclosing object
whose type sets the context and sent as a variable, `$contextualArgument_<n>_<i>` (n: the
subgraph's position in the supergraph, from 1; i: the argument's position among that
subgraph's contextual arguments, by coordinate). The selection is planned on that
ancestor like a `@requires` (from another subgraph if need be) and read back by the
executor, `levels` objects above each entity, when its `__typename` is one the source is for.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from graphql import (
    ArgumentNode,
    FieldNode,
    NameNode,
    SelectionSetNode,
    VariableNode,
    is_abstract_type,
)

from router.planner.selection import RepField
from router.supergraph import ContextArgument, Supergraph, parse_selection
from router.types import PlanPath


@dataclass(frozen=True, slots=True)
class ContextSource:
    """Read `value` on the object `levels` field steps above the entity, if its
    `__typename` is in `typenames` (None: the root, which has none)."""

    levels: int
    typenames: frozenset[str] | None
    value: RepField
    tname: str = ""  # the type that sets the context there (query plans show it)

    def rewrite_path(self) -> list[str]:
        """Where the value is, from the entity, as Apollo's plans write it
        (`["..", "... on Shop", "currency"]`)."""
        condition = [f"... on {self.tname}"] if self.typenames is not None else []
        return [*[".."] * self.levels, *condition, self.value.key]


@dataclass(frozen=True, slots=True)
class ContextVariable:
    name: str  # the variable sent, `contextualArgument_1_0`
    argument: str  # the field's argument it is passed as
    type: str  # its GraphQL type, as the subgraph declares the argument
    sources: tuple[ContextSource, ...]  # nearest first: the first that applies wins


def merge_variables(
    old: tuple[ContextVariable, ...], new: tuple[ContextVariable, ...]
) -> tuple[ContextVariable, ...]:
    """The variables of a fetch that took in another field's (the same variable reached
    from other ancestors keeps every source, nearest first)."""
    merged = {v.name: v for v in old}
    for variable in new:
        known = merged.get(variable.name)
        if known is None:
            merged[variable.name] = variable
            continue
        sources = known.sources + tuple(s for s in variable.sources if s not in known.sources)
        merged[variable.name] = ContextVariable(
            variable.name,
            variable.argument,
            variable.type,
            tuple(sorted(sources, key=lambda s: s.levels)),
        )
    return tuple(merged.values())


_NAMES: weakref.WeakKeyDictionary[Supergraph, dict[tuple[str, str, str, str], str]] = (
    weakref.WeakKeyDictionary()
)


def variable_names(supergraph: Supergraph) -> dict[tuple[str, str, str, str], str]:
    """(graph, type, field, argument) -> Apollo's variable name for it."""
    names = _NAMES.get(supergraph)
    if names is None:
        names = {}
        for index, graph in enumerate(supergraph.subgraphs):
            found = sorted(
                (f"{tname}.{fname}({arg.name}:)", (graph, tname, fname, arg.name))
                for tname, meta in supergraph.types.items()
                for fname, joins in meta.field_joins.items()
                for join in joins
                if join.graph == graph
                for arg in join.context_arguments
            )
            for position, (_, key) in enumerate(found):
                names[key] = f"contextualArgument_{index + 1}_{position}"
        _NAMES[supergraph] = names
    return names


def field_steps(path: PlanPath) -> int:
    return sum(1 for segment in path if segment != "@")


def ancestors(paths: list[PlanPath], path: PlanPath) -> list[int]:
    """Of the objects being planned (`paths`, outermost first), those enclosing the one at
    `path`, nearest first, one per level: their indexes."""
    found: list[int] = []
    limit = field_steps(path)
    for index in range(len(paths) - 1, -1, -1):
        steps = field_steps(paths[index])
        if steps < limit and path[: len(paths[index])] == paths[index]:
            found.append(index)
            limit = steps
    return found


def sets_context(supergraph: Supergraph, tname: str, context: str) -> bool:
    """Whether objects of `tname` set `context`: on the type, an interface it implements or
    a union it belongs to (Apollo counts all three)."""
    meta = supergraph.types.get(tname)
    if meta is None:
        return False
    if context in meta.contexts:
        return True
    gtype = supergraph.schema.get_type(tname)
    for iface in getattr(gtype, "interfaces", ()):
        imeta = supergraph.types.get(iface.name)
        if imeta is not None and context in imeta.contexts:
            return True
    return any(
        context in other.contexts
        for other in supergraph.types.values()
        if any(tname in members for members in other.union_members.values())
    )


def selection_of(argument: ContextArgument) -> SelectionSetNode:
    text = argument.selection.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    return parse_selection(text)


def typenames(supergraph: Supergraph, tname: str) -> frozenset[str]:
    gtype = supergraph.schema.get_type(tname)
    if gtype is not None and is_abstract_type(gtype):
        possible = supergraph.schema.get_possible_types(gtype)
        return frozenset({tname, *(t.name for t in possible)})
    return frozenset({tname})


def with_variables(node: FieldNode, variables: dict[str, str]) -> FieldNode:
    """The field with each contextual argument passed as its variable."""
    extra = tuple(
        ArgumentNode(name=NameNode(value=arg), value=VariableNode(name=NameNode(value=var)))
        for arg, var in variables.items()
    )
    return FieldNode(
        alias=node.alias,
        name=node.name,
        arguments=(*(node.arguments or ()), *extra),
        directives=node.directives,
        selection_set=node.selection_set,
    )


def free_name(name: str, taken: set[str]) -> str:
    """`name`, or with leading underscores when a client variable already has it."""
    while name in taken:
        name = f"_{name}"
    return name


@dataclass(frozen=True, slots=True)
class GroupedRequest:
    """An entity fetch's operation with one aliased `_entities` field per group of
    representations sharing context values, and the variable names each group uses."""

    document: str
    representations: tuple[str, ...]  # per group
    variables: tuple[dict[str, str], ...]  # per group: context variable -> its name there


def grouped_request(
    document: str,
    variables: tuple[ContextVariable, ...],
    client: tuple[str, ...],
    groups: int,
) -> GroupedRequest:
    """`_0:_entities(representations:$representations_0){...field(a:
    $contextualArgument_1_0_0)} _1:...`, as Apollo Router names them; a name a client
    variable of the fetch already has gets leading underscores instead."""
    head, _, body = document.partition("{_entities(representations:$representations)")
    selection = body[:-1]  # without the operation's closing brace
    definitions = head[len("query(") : -1].split(",")
    own = {f"${v.name}:{v.type}" for v in variables} | {"$representations:[_Any!]!"}
    kept = [d for d in definitions if d not in own]
    taken = set(client)
    pattern = re.compile(
        r"\$(" + "|".join(re.escape(v.name) for v in variables) + r")(?![A-Za-z0-9_])"
    )
    heads: list[str] = []
    fields: list[str] = []
    reps: list[str] = []
    renames: list[dict[str, str]] = []
    for index in range(groups):
        rep = free_name(f"representations_{index}", taken)
        names = {v.name: free_name(f"{v.name}_{index}", taken) for v in variables}
        taken |= {rep, *names.values()}
        reps.append(rep)
        renames.append(names)
        heads.append(f"${rep}:[_Any!]!")
        heads.extend(f"${names[v.name]}:{v.type}" for v in variables)
        renamed = pattern.sub(_renamer(names), selection)
        fields.append(f"_{index}:_entities(representations:${rep}){renamed}")
    return GroupedRequest(
        f"query({','.join([*heads, *kept])}){{{' '.join(fields)}}}", tuple(reps), tuple(renames)
    )


def _renamer(names: dict[str, str]) -> Callable[[re.Match[str]], str]:
    def rename(match: re.Match[str]) -> str:
        return "$" + names[match.group(1)]

    return rename
