"""Directives in the supergraph: applications kept from subgraphs, and definitions.

Applications of `@inaccessible`, `@tag`, the built-ins clients may see (`@deprecated`,
`@specifiedBy`, `@oneOf`), the cost spec's `@cost`/`@listSize` and `@composeDirective`d
custom directives are merged per element;
every other subgraph directive stays in its subgraph. Composed directives bring their
definition and `@link`; executable directives defined in every subgraph survive too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence

from graphql import (
    ArgumentNode,
    BooleanValueNode,
    DirectiveDefinitionNode,
    DirectiveNode,
    IntValueNode,
    ListValueNode,
    NameNode,
    NullValueNode,
    StringValueNode,
    ValueNode,
    print_ast,
)

from router.composition import errors
from router.composition.definitions import Applied, Subgraph
from router.composition.model import MergedSchema
from router.composition.subgraph import COST_DIRECTIVES

EXECUTABLE_LOCATIONS = frozenset(
    {
        "QUERY",
        "MUTATION",
        "SUBSCRIPTION",
        "FIELD",
        "FRAGMENT_DEFINITION",
        "FRAGMENT_SPREAD",
        "INLINE_FRAGMENT",
        "VARIABLE_DEFINITION",
    }
)

Fail = Callable[[str, str, Iterable[int], str | None], None]


def merge_applied(items: Iterable[Applied], repeatable: set[str]) -> Applied:
    """Union of the applications. A non-repeatable directive applied differently across
    subgraphs keeps its most common application (the first of equals), as Apollo does."""
    result = Applied()
    seen: dict[str, DirectiveNode] = {}
    counts: dict[str, int] = {}
    scopes: list[list[list[str]]] = []
    policies: list[list[list[str]]] = []
    for applied in items:
        result.inaccessible |= applied.inaccessible
        result.tags.extend(t for t in applied.tags if t not in result.tags)
        result.authenticated |= applied.authenticated
        for name, present in (
            ("authenticated", applied.authenticated),
            ("requiresScopes", applied.scopes),
            ("policy", applied.policies),
        ):
            if present and name not in result.security_order:
                result.security_order.append(name)
        scopes.extend(v for v in applied.scopes if v not in scopes)
        policies.extend(v for v in applied.policies if v not in policies)
        for directive in applied.kept:
            printed = print_ast(directive)
            seen.setdefault(printed, directive)
            counts[printed] = counts.get(printed, 0) + 1
    chosen: dict[str, str] = {}  # non-repeatable name -> printed application kept
    variants: dict[str, list[DirectiveNode]] = {}
    for printed, directive in seen.items():
        name = directive.name.value
        variants.setdefault(name, []).append(directive)
        if name in repeatable:
            result.kept.append(directive)
        elif name not in chosen or counts[printed] > counts[chosen[name]]:
            chosen[name] = printed
    result.kept.extend(
        merge_cost(name, variants[name])
        if name in COST_DIRECTIVES and len(variants[name]) > 1
        else seen[printed]
        for name, printed in chosen.items()
    )
    # Equal applications stay as written; different ones must all hold (Apollo's
    # DNF_CONJUNCTION strategy).
    if scopes:
        result.scopes = [scopes[0] if len(scopes) == 1 else dnf_conjunction(scopes)]
    if policies:
        result.policies = [policies[0] if len(policies) == 1 else dnf_conjunction(policies)]
    return result


# Apollo's argument strategies for the cost spec (federation-internals' costSpec).
_LIST_SIZE_ARGS = ("assumedSize", "slicingArguments", "sizedFields", "requireOneSlicingArgument")


def merge_cost(name: str, applications: list[DirectiveNode]) -> DirectiveNode:
    """Different applications of `@cost` or `@listSize` on one element, merged argument by
    argument as Apollo does: weight and assumedSize MAX, slicingArguments and sizedFields
    UNION, requireOneSlicingArgument AND; absent arguments do not take part."""
    values: dict[str, list[ValueNode]] = {}
    for directive in applications:
        for argument in directive.arguments or ():
            values.setdefault(argument.name.value, []).append(argument.value)
    merged: list[ArgumentNode] = []
    for arg in ("weight",) if name == "cost" else _LIST_SIZE_ARGS:
        given = values.get(arg)
        if not given:
            continue
        value: ValueNode
        if arg in ("weight", "assumedSize"):
            ints = [int(v.value) for v in given if isinstance(v, IntValueNode)]
            value = IntValueNode(value=str(max(ints))) if ints else NullValueNode()
        elif arg == "requireOneSlicingArgument":
            value = BooleanValueNode(
                value=all(v.value for v in given if isinstance(v, BooleanValueNode))
            )
        else:
            union: list[str] = []
            for item in given:
                if isinstance(item, ListValueNode):
                    union.extend(
                        v.value
                        for v in item.values
                        if isinstance(v, StringValueNode) and v.value not in union
                    )
            value = ListValueNode(values=tuple(StringValueNode(value=u) for u in union))
        merged.append(ArgumentNode(name=NameNode(value=arg), value=value))
    return DirectiveNode(name=NameNode(value=name), arguments=tuple(merged))


def dnf_conjunction(values: list[list[list[str]]]) -> list[list[str]]:
    """The AND of several ORs-of-ANDs, as one OR of ANDs, the way Apollo's composition
    merges @requiresScopes and @policy (`dnfConjunction` in federation-internals): every
    combination of one alternative from each value, minus those another one implies."""
    copies = [[sorted(inner) for inner in value] or [[]] for value in values]
    distinct: list[list[list[str]]] = []
    seen: set[str] = set()
    for value in copies:
        value.sort(key=_json)
        key = _json(value)
        if key not in seen:
            seen.add(key)
            distinct.append(value)
    result = distinct[0]
    for current in distinct[1:]:
        combined: list[list[str]] = []
        keys: set[str] = set()
        for left in result:
            for right in current:
                candidate = sorted([*left, *(e for e in right if e not in left)])
                key = _json(candidate)
                if key not in keys:
                    keys.add(key)
                    combined.append(candidate)
        combined.sort(key=len)
        result = []
        for candidate in combined:
            members = set(candidate)
            if not any(all(e in members for e in kept) for kept in result):
                result.append(candidate)
    return result


def _json(value: object) -> str:
    # JSON.stringify's text, which Apollo sorts and de-duplicates by.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def repeatable_directives(subgraphs: Sequence[Subgraph]) -> set[str]:
    return {
        name
        for subgraph in subgraphs
        for name, definition in subgraph.directive_defs.items()
        if definition.repeatable
    }


def uses(subgraph: Subgraph, directive: str) -> bool:
    """Whether the subgraph applies @inaccessible (or @tag) anywhere: the supergraph links
    those specs only when used, as Apollo's does."""

    def hit(applied: Applied) -> bool:
        if directive == "inaccessible":
            return applied.inaccessible
        if directive == "tag":
            return bool(applied.tags)
        if directive == "authenticated":
            return applied.authenticated
        if directive == "requiresScopes":
            return bool(applied.scopes)
        if directive in COST_DIRECTIVES:
            return any(d.name.value == directive for d in applied.kept)
        return bool(applied.policies)

    for tdef in subgraph.types.values():
        if hit(tdef.applied) or any(hit(v.applied) for v in tdef.values.values()):
            return True
        for fdef in tdef.fields.values():
            if hit(fdef.applied) or any(hit(a.applied) for a in fdef.args.values()):
                return True
    return False


def merge_directive_definitions(
    subgraphs: Sequence[Subgraph], schema: MergedSchema, fail: Fail
) -> None:
    composed = _composed(subgraphs, fail)
    for name, idx in composed.items():
        link = subgraphs[idx].link_for_directive(name)
        assert link is not None
        schema.composed.append((subgraphs[idx].directive_defs[name], link))
    first = subgraphs[0].directive_defs if subgraphs else {}
    for name, definition in first.items():
        if name in composed:
            continue
        # Executable directives are intersected, as for inputs: every subgraph must accept
        # what a client sends, so locations, arguments and repeatability all narrow.
        versions = [s.directive_defs.get(name) for s in subgraphs]
        if any(v is None for v in versions):
            continue
        defs = [v for v in versions if v is not None]
        locations = set(EXECUTABLE_LOCATIONS)
        for other in defs:
            locations &= {loc.value for loc in other.locations}
        if not locations:
            continue
        arg_names = set.intersection(*({a.name.value for a in d.arguments or ()} for d in defs))
        schema.executable.append(
            DirectiveDefinitionNode(
                name=definition.name,
                description=definition.description,
                arguments=tuple(a for a in definition.arguments or () if a.name.value in arg_names),
                repeatable=all(d.repeatable for d in defs),
                locations=tuple(
                    NameNode(value=loc.value)
                    for loc in definition.locations
                    if loc.value in locations
                ),
            )
        )


def _composed(subgraphs: Sequence[Subgraph], fail: Fail) -> dict[str, int]:
    """Composed directive name -> index of the subgraph whose definition wins (the one
    linking the newest version of the directive's spec)."""
    chosen: dict[str, int] = {}
    for idx, subgraph in enumerate(subgraphs):
        for name in subgraph.composed:
            link = subgraph.link_for_directive(name)
            if name not in subgraph.directive_defs:
                fail(
                    errors.DIRECTIVE_COMPOSITION_ERROR,
                    "Could not find matching directive definition for argument to "
                    f'@composeDirective "@{name}" in subgraph "{subgraph.name}".',
                    [idx],
                    f"@{name}",
                )
            elif link is None:
                fail(
                    errors.DIRECTIVE_COMPOSITION_ERROR,
                    f'Directive "@{name}" in subgraph "{subgraph.name}" cannot be composed '
                    "because it is not a member of a core feature",
                    [idx],
                    f"@{name}",
                )
            elif name not in chosen:
                chosen[name] = idx
            else:
                current = subgraphs[chosen[name]].link_for_directive(name)
                if current is not None and link.version > current.version:
                    chosen[name] = idx
    return chosen
