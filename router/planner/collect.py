"""Field collection for one concrete type, with @skip/@include decided at plan time.

Plans are cached per (operation, values of the variables that @skip/@include and @defer's
`if` use), so the planner can drop skipped fields instead of sending directives to
subgraphs, and knows which fragments are deferred.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from graphql import (
    BooleanValueNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
    is_abstract_type,
)
from graphql.language import DirectiveNode

Collected = dict[str, list[FieldNode]]
CONDITIONAL = ("skip", "include", "defer")


@dataclass(frozen=True, slots=True)
class Deferral:
    """A fragment the client deferred (`... @defer` or `...Name @defer`) that applies here."""

    node: InlineFragmentNode | FragmentSpreadNode
    label: str | None
    selection_set: SelectionSetNode


def condition_value(
    directives: Iterable[DirectiveNode] | None, variables: Mapping[str, bool]
) -> bool:
    """False when @skip(if: true) or @include(if: false) applies."""
    for directive in directives or ():
        name = directive.name.value
        if name not in ("skip", "include"):
            continue
        flag = _flag(directive.arguments[0].value if directive.arguments else None, variables)
        if (name == "skip" and flag) or (name == "include" and not flag):
            return False
    return True


def _flag(value: object, variables: Mapping[str, bool]) -> bool:
    if isinstance(value, BooleanValueNode):
        return value.value
    if isinstance(value, VariableNode):
        return bool(variables.get(value.name.value, False))
    return False


def deferred(
    directives: Iterable[DirectiveNode] | None, variables: Mapping[str, bool]
) -> tuple[bool, str | None]:
    """(deferred?, label) of a fragment: `@defer` defers unless `if:` is false."""
    for directive in directives or ():
        if directive.name.value != "defer":
            continue
        active, label = True, None
        for argument in directive.arguments or ():
            if argument.name.value == "if":
                active = _flag(argument.value, variables)
            elif argument.name.value == "label" and isinstance(argument.value, StringValueNode):
                label = argument.value.value
        return active, label
    return False, None


def has_defer(
    selection_set: SelectionSetNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> bool:
    """Whether any fragment of the operation carries @defer."""
    found = False
    seen: set[str] = set()

    def walk(sel_set: SelectionSetNode) -> None:
        nonlocal found
        for sel in sel_set.selections:
            if found:
                return
            if isinstance(sel, FragmentSpreadNode | InlineFragmentNode) and any(
                d.name.value == "defer" for d in sel.directives or ()
            ):
                found = True
                return
            if isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                if name not in seen and name in fragments:
                    seen.add(name)
                    walk(fragments[name].selection_set)
            elif isinstance(sel, FieldNode | InlineFragmentNode) and sel.selection_set:
                walk(sel.selection_set)

    walk(selection_set)
    return found


def conditional_variables(
    selection_set: SelectionSetNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> set[str]:
    """Names of the variables used by @skip/@include/@defer anywhere in the operation."""
    names: set[str] = set()
    seen: set[str] = set()

    def walk(sel_set: SelectionSetNode) -> None:
        for sel in sel_set.selections:
            for directive in sel.directives or ():
                if directive.name.value in CONDITIONAL:
                    for arg in directive.arguments or ():
                        if isinstance(arg.value, VariableNode):
                            names.add(arg.value.name.value)
            if isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                if name not in seen and name in fragments:
                    seen.add(name)
                    walk(fragments[name].selection_set)
            elif isinstance(sel, FieldNode | InlineFragmentNode) and sel.selection_set:
                walk(sel.selection_set)

    walk(selection_set)
    return names


class FieldCollector:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, bool],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def applies(self, type_condition: str | None, type_name: str) -> bool:
        if type_condition is None or type_condition == type_name:
            return True
        cond = self.schema.get_type(type_condition)
        concrete = self.schema.get_type(type_name)
        if cond is None or concrete is None:
            return False
        if is_abstract_type(cond):
            if is_abstract_type(concrete):
                return False
            return self.schema.is_sub_type(cond, concrete)
        return False

    def collect(
        self,
        type_name: str,
        selection_sets: Iterable[SelectionSetNode],
        defers: list[Deferral] | None = None,
    ) -> Collected:
        """The fields selected on `type_name`. With `defers`, deferred fragments are left
        out and listed there instead; without, they are collected like any fragment."""
        out: Collected = {}
        for sel_set in selection_sets:
            self._collect(type_name, sel_set, out, set(), defers)
        return out

    def _collect(
        self,
        type_name: str,
        sel_set: SelectionSetNode,
        out: Collected,
        seen: set[str],
        defers: list[Deferral] | None,
    ) -> None:
        for sel in sel_set.selections:
            if not condition_value(sel.directives, self.variables):
                continue
            if isinstance(sel, FieldNode):
                key = sel.alias.value if sel.alias else sel.name.value
                out.setdefault(key, []).append(sel)
                continue
            if isinstance(sel, InlineFragmentNode):
                cond = sel.type_condition.name.value if sel.type_condition else None
                inner, inner_seen = sel.selection_set, seen
            elif isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                frag = self.fragments.get(name)
                if frag is None or name in seen:
                    continue
                cond, inner, inner_seen = (
                    frag.type_condition.name.value,
                    frag.selection_set,
                    seen | {name},
                )
            else:
                continue
            if not self.applies(cond, type_name):
                continue
            if defers is not None:
                active, label = deferred(sel.directives, self.variables)
                if active:
                    defers.append(Deferral(sel, label, inner))
                    continue
            self._collect(type_name, inner, out, inner_seen, defers)

    def mentions(self, abstract: str, selection_sets: Iterable[SelectionSetNode]) -> set[str]:
        """Type conditions used directly under an abstract type (for interfaceObject)."""
        found: set[str] = set()

        def walk(sel_set: SelectionSetNode, seen: frozenset[str]) -> None:
            for sel in sel_set.selections:
                if isinstance(sel, InlineFragmentNode) and sel.type_condition:
                    found.add(sel.type_condition.name.value)
                    walk(sel.selection_set, seen)
                elif isinstance(sel, FragmentSpreadNode):
                    frag = self.fragments.get(sel.name.value)
                    if frag is not None and sel.name.value not in seen:
                        found.add(frag.type_condition.name.value)
                        walk(frag.selection_set, seen | {sel.name.value})

        for sel_set in selection_sets:
            walk(sel_set, frozenset())
        found.discard(abstract)
        return found
