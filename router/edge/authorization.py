"""Authorization directives from the supergraph: `@authenticated`, `@requiresScopes`,
`@policy`, enforced with the verified claims before planning.

Each field's requirement is read once per schema state: the field's own directives and
those of the type it returns, all of which must hold. A field selected on an interface or
union gets the requirements of that field on every object type it may resolve to.

Per operation (cached with it), the distinct requirements it touches are collected; an
operation that touches none costs nothing more per request. Otherwise each request
evaluates those few requirements against its claims, and the result picks (or builds once)
the plan for that verdict: denied fields are removed from the operation before planning,
so no subgraph is asked for them and a fetch whose every field was denied is never sent.
The projection still expects them, so they read as null (with GraphQL's null propagation
for non-null fields), and one error per denied field sits at its path: UNAUTHENTICATED
without a token, FORBIDDEN with one that lacks the scopes or policies, each saying what
the field needs and which roles have it ("Mutation.createCourse needs scope `teach`
(TEACHER or ADMIN).", coursegraph.identity words the subgraphs' refusals the same way).

`AuthorizationCheck` is the operation check (router/checks.py): its note is the operation's
requirements, its restriction per request the viewer's `Denied` fields.

Policies are granted by role: `authorization.policies` maps a policy name to the roles
(the token's `role` claim) that hold it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    ConstDirectiveNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    NameNode,
    OperationDefinitionNode,
    SelectionNode,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
    get_named_type,
    is_abstract_type,
    is_object_type,
)

from coursegraph.identity import (
    ROLES,
    Viewer,
    access_refusal,
    policies_requirement,
    scopes_requirement,
)
from router.checks import OperationCheck
from router.config import AuthorizationConfig
from router.prepared import PreparedOperation
from router.supergraph import Supergraph
from router.types import JSONObject, ResponsePath

UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
# An OR of ANDs: any one alternative, all of whose members the viewer must hold.
Alternatives = tuple[frozenset[str], ...]


@dataclass(frozen=True, slots=True)
class Requirement:
    authenticated: bool = False
    # Each entry must hold (several come from the field and its type).
    scopes: tuple[Alternatives, ...] = ()
    policies: tuple[Alternatives, ...] = ()

    def __and__(self, other: Requirement) -> Requirement:
        return Requirement(
            self.authenticated or other.authenticated,
            _union(self.scopes, other.scopes),
            _union(self.policies, other.policies),
        )

    def __bool__(self) -> bool:
        return self.authenticated or bool(self.scopes) or bool(self.policies)


def _union(
    left: tuple[Alternatives, ...], right: tuple[Alternatives, ...]
) -> tuple[Alternatives, ...]:
    return left + tuple(r for r in right if r not in left)


@dataclass(frozen=True, slots=True)
class Denial:
    """A denied field: its response-key path, the type it was selected on, and why."""

    path: tuple[str, ...]
    type_condition: str
    code: str
    coordinate: str
    # What the field needs and who has it (the subgraphs word it the same way).
    message: str


# The verdict for one operation and one viewer: the code of each denied requirement.
Verdict = tuple[str | None, ...]


class Authorization:
    def __init__(self, supergraph: Supergraph, config: AuthorizationConfig) -> None:
        self.schema: GraphQLSchema = supergraph.schema
        self.policies = {name: frozenset(roles) for name, roles in config.policies.items()}
        names = supergraph.spec_directives
        self._directives = {
            spec: names[spec]
            for spec in ("authenticated", "requiresScopes", "policy")
            if spec in names
        }
        # (parent type, field name) -> requirement, only for fields that have one.
        self.fields: dict[tuple[str, str], Requirement] = self._read_fields()

    @classmethod
    def build(cls, supergraph: Supergraph, config: AuthorizationConfig) -> Authorization | None:
        """None when off or when the supergraph uses none of the directives (no cost)."""
        if not config.enabled:
            return None
        authorization = cls(supergraph, config)
        return authorization if authorization.fields else None

    # ------------------------------------------------------------------ schema
    def _read(self, directives: Iterable[ConstDirectiveNode]) -> Requirement:
        requirement = Requirement()
        names = self._directives
        for directive in directives:
            name = directive.name.value
            if name == names.get("authenticated"):
                requirement = requirement & Requirement(authenticated=True)
            elif name == names.get("requiresScopes"):
                requirement = requirement & Requirement(scopes=(_alternatives(directive),))
            elif name == names.get("policy"):
                requirement = requirement & Requirement(policies=(_alternatives(directive),))
        return requirement

    def _read_fields(self) -> dict[tuple[str, str], Requirement]:
        if not self._directives:
            return {}
        by_type: dict[str, Requirement] = {}
        for name, gtype in self.schema.type_map.items():
            nodes = [gtype.ast_node, *(gtype.extension_ast_nodes or ())]
            requirement = self._read(d for n in nodes if n is not None for d in n.directives or ())
            if requirement:
                by_type[name] = requirement
        found: dict[tuple[str, str], Requirement] = {}
        for name, gtype in self.schema.type_map.items():
            if not is_object_type(gtype) or name.startswith("__"):
                continue
            for fname, field in gtype.fields.items():
                own = (
                    self._read(field.ast_node.directives or ()) if field.ast_node else Requirement()
                )
                returned = by_type.get(get_named_type(field.type).name, Requirement())
                requirement = own & returned
                if requirement:
                    found[(name, fname)] = requirement
        return found

    def requirement(self, type_name: str, field_name: str) -> Requirement | None:
        """The field's requirement on `type_name`; on an abstract type, that of every object
        type it may be."""
        gtype = self.schema.get_type(type_name)
        if gtype is not None and is_abstract_type(gtype):
            combined = Requirement()
            for possible in self.schema.get_possible_types(gtype):
                found = self.fields.get((possible.name, field_name))
                if found is not None:
                    combined = combined & found
            return combined or None
        return self.fields.get((type_name, field_name))

    # --------------------------------------------------------------- operations
    def requirements_of(
        self,
        root_type: str,
        operation: OperationDefinitionNode,
        fragments: Mapping[str, FragmentDefinitionNode],
    ) -> tuple[Requirement, ...]:
        """The distinct requirements the operation's fields carry (once per operation)."""
        found: dict[Requirement, None] = {}
        for _, type_name, field in self._walk(root_type, operation.selection_set, fragments, ()):
            requirement = self.requirement(type_name, field.name.value)
            if requirement is not None:
                found[requirement] = None
        return tuple(found)

    def verdict(self, requirements: tuple[Requirement, ...], viewer: Viewer | None) -> Verdict:
        return tuple(self._check(r, viewer) for r in requirements)

    def _check(self, requirement: Requirement, viewer: Viewer | None) -> str | None:
        if viewer is None:
            return UNAUTHENTICATED
        for alternatives in requirement.scopes:
            if not any(needed <= viewer.scopes for needed in alternatives):
                return FORBIDDEN
        held = frozenset(p for p, roles in self.policies.items() if viewer.role in roles)
        for alternatives in requirement.policies:
            if not any(needed <= held for needed in alternatives):
                return FORBIDDEN
        return None

    def restrict(
        self,
        root_type: str,
        operation: OperationDefinitionNode,
        fragments: Mapping[str, FragmentDefinitionNode],
        denied: Mapping[Requirement, str],
    ) -> tuple[OperationDefinitionNode, dict[str, FragmentDefinitionNode], tuple[Denial, ...]]:
        """The operation and fragments without the denied fields, and where they were."""
        restricted = _Restrict(self, denied, fragments)
        kept_fragments = {
            name: FragmentDefinitionNode(
                name=fragment.name,
                type_condition=fragment.type_condition,
                variable_definitions=fragment.variable_definitions,
                directives=fragment.directives,
                selection_set=restricted.selection_set(
                    fragment.type_condition.name.value, fragment.selection_set
                ),
            )
            for name, fragment in fragments.items()
        }
        kept = OperationDefinitionNode(
            operation=operation.operation,
            name=operation.name,
            variable_definitions=operation.variable_definitions,
            directives=operation.directives,
            selection_set=restricted.selection_set(root_type, operation.selection_set),
        )
        denials: dict[Denial, None] = {}
        denied_paths: set[tuple[str, ...]] = set()
        for path, type_name, field in self._walk(root_type, operation.selection_set, fragments, ()):
            if any(path[:i] in denied_paths for i in range(1, len(path))):
                continue  # inside a denied field: that field's error covers it
            requirement = self.requirement(type_name, field.name.value)
            code = denied.get(requirement) if requirement is not None else None
            if requirement is not None and code is not None:
                denied_paths.add(path)
                coordinate = f"{type_name}.{field.name.value}"
                message = self.refusal(coordinate, requirement, code)
                denials[Denial(path, type_name, code, coordinate, message)] = None
        return kept, kept_fragments, tuple(denials)

    def refusal(self, coordinate: str, requirement: Requirement, code: str) -> str:
        wanted = [scopes_requirement(alternatives) for alternatives in requirement.scopes]
        for alternatives in requirement.policies:
            holders = [
                role
                for role in ROLES
                if any(all(role in self.policies.get(p, ()) for p in n) for n in alternatives)
            ]
            wanted.append(policies_requirement(alternatives, holders))
        return access_refusal(coordinate, signed_in=code != UNAUTHENTICATED, requirements=wanted)

    def errors(self, data: JSONObject, denials: tuple[Denial, ...]) -> list[JSONObject]:
        """One error per denied field at each place the response reaches it: under every
        object at its parent path (list items included) of the type it was selected on."""
        errors: list[JSONObject] = []
        for denial in denials:
            for where in self._parents(data, denial.path[:-1], denial.type_condition):
                errors.append(
                    {
                        "message": denial.message,
                        "path": [*where, denial.path[-1]],
                        "extensions": {"code": denial.code},
                    }
                )
        return errors

    def _parents(
        self, data: JSONObject, keys: tuple[str, ...], type_condition: str
    ) -> list[ResponsePath]:
        current: list[tuple[Any, ResponsePath]] = [(data, [])]
        for key in keys:
            following: list[tuple[Any, ResponsePath]] = []
            for value, where in current:
                if not isinstance(value, dict) or value.get(key) is None:
                    continue
                pending: list[tuple[Any, ResponsePath]] = [(value[key], [*where, key])]
                while pending:
                    item, at = pending.pop()
                    if isinstance(item, list):
                        pending.extend((v, [*at, i]) for i, v in reversed(list(enumerate(item))))
                    elif item is not None:
                        following.append((item, at))
            current = following
        return [
            where
            for value, where in current
            if isinstance(value, dict) and self._is_a(value.get("__typename"), type_condition)
        ]

    def _is_a(self, typename: Any, type_condition: str) -> bool:
        # Without __typename in the data the object was selected on that type.
        if not isinstance(typename, str) or typename == type_condition:
            return True
        condition = self.schema.get_type(type_condition)
        if condition is None or not is_abstract_type(condition):
            return False
        possible = self.schema.get_possible_types(condition)
        return any(t.name == typename for t in possible)

    def _walk(
        self,
        type_name: str,
        selection_set: SelectionSetNode,
        fragments: Mapping[str, FragmentDefinitionNode],
        path: tuple[str, ...],
    ) -> Iterable[tuple[tuple[str, ...], str, FieldNode]]:
        """Every field of the operation (fragments expanded) with its response-key path
        and the type it is selected on, parents before children."""
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                name = selection.name.value
                if name.startswith("__"):
                    continue
                key = selection.alias.value if selection.alias else name
                yield (*path, key), type_name, selection
                if selection.selection_set is not None:
                    parent = self.schema.get_type(type_name)
                    field = getattr(parent, "fields", {}).get(name)
                    if field is not None:
                        child = get_named_type(field.type).name
                        yield from self._walk(
                            child, selection.selection_set, fragments, (*path, key)
                        )
            else:
                condition, inner = _fragment_parts(selection, type_name, fragments)
                if inner is not None:
                    yield from self._walk(condition, inner, fragments, path)


class AuthorizationCheck(OperationCheck[tuple[Requirement, ...]]):
    def __init__(self, authorization: Authorization) -> None:
        self.authorization = authorization

    def prepare(self, operation: PreparedOperation) -> tuple[Requirement, ...]:
        return self.authorization.requirements_of(
            operation.root_type, operation.operation, operation.fragments
        )

    def restriction(
        self,
        operation: PreparedOperation,
        note: tuple[Requirement, ...],
        viewer: Viewer | None,
    ) -> Denied | None:
        if not note:
            return None
        verdict = self.authorization.verdict(note, viewer)
        if not any(verdict):
            return None
        return Denied(verdict, operation.root_type, note, self.authorization)


@dataclass(frozen=True, slots=True)
class Denied:
    """The requirements one viewer fails in one operation. Equal verdicts share a plan."""

    verdict: Verdict
    root_type: str = dataclasses.field(compare=False)
    requirements: tuple[Requirement, ...] = dataclasses.field(compare=False)
    authorization: Authorization = dataclasses.field(compare=False)

    def apply(
        self, operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]
    ) -> DeniedFields:
        denied = {r: c for r, c in zip(self.requirements, self.verdict, strict=True) if c}
        kept, kept_fragments, denials = self.authorization.restrict(
            self.root_type, operation, fragments, denied
        )
        return DeniedFields(kept, kept_fragments, denials, self.authorization)


@dataclass(frozen=True, slots=True)
class DeniedFields:
    """The operation without the denied fields, and where they were."""

    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDefinitionNode]
    denials: tuple[Denial, ...]
    authorization: Authorization

    def errors(self, data: JSONObject) -> list[JSONObject]:
        return self.authorization.errors(data, self.denials)


class _Restrict:
    def __init__(
        self,
        authorization: Authorization,
        denied: Mapping[Requirement, str],
        fragments: Mapping[str, FragmentDefinitionNode],
    ) -> None:
        self.authorization = authorization
        self.denied = denied
        self.fragments = fragments

    def selection_set(self, type_name: str, selection_set: SelectionSetNode) -> SelectionSetNode:
        kept: list[SelectionNode] = []
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                name = selection.name.value
                requirement = (
                    None
                    if name.startswith("__")
                    else self.authorization.requirement(type_name, name)
                )
                if requirement is not None and requirement in self.denied:
                    continue
                if selection.selection_set is not None:
                    parent = self.authorization.schema.get_type(type_name)
                    field = getattr(parent, "fields", {}).get(name)
                    if field is not None:
                        child = get_named_type(field.type).name
                        selection = FieldNode(
                            alias=selection.alias,
                            name=selection.name,
                            arguments=selection.arguments,
                            directives=selection.directives,
                            selection_set=self.selection_set(child, selection.selection_set),
                        )
                kept.append(selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = (
                    selection.type_condition.name.value if selection.type_condition else type_name
                )
                inner = self.selection_set(condition, selection.selection_set)
                # A deferred fragment stays, emptied or not: its part is still delivered.
                if not _only_typename(inner) or any(
                    d.name.value == "defer" for d in selection.directives or ()
                ):
                    kept.append(
                        InlineFragmentNode(
                            type_condition=selection.type_condition,
                            directives=selection.directives,
                            selection_set=inner,
                        )
                    )
            else:
                kept.append(selection)  # fragment definitions are restricted on their own
        if not kept:
            # Every field here was denied: keep the object itself (its own field may be
            # allowed) with a selection that is always valid.
            kept.append(FieldNode(name=NameNode(value="__typename")))
        return SelectionSetNode(selections=tuple(kept))


def _only_typename(selection_set: SelectionSetNode) -> bool:
    [*selections] = selection_set.selections
    return (
        len(selections) == 1
        and isinstance(selections[0], FieldNode)
        and selections[0].name.value == "__typename"
        and selections[0].alias is None
    )


def _fragment_parts(
    selection: SelectionNode, type_name: str, fragments: Mapping[str, FragmentDefinitionNode]
) -> tuple[str, SelectionSetNode | None]:
    if isinstance(selection, InlineFragmentNode):
        condition = selection.type_condition.name.value if selection.type_condition else type_name
        return condition, selection.selection_set
    if isinstance(selection, FragmentSpreadNode):
        fragment = fragments.get(selection.name.value)
        if fragment is not None:
            return fragment.type_condition.name.value, fragment.selection_set
    return type_name, None


def _alternatives(directive: ConstDirectiveNode) -> Alternatives:
    value: ValueNode | None = directive.arguments[0].value if directive.arguments else None
    out: list[frozenset[str]] = []
    if isinstance(value, ListValueNode):
        for item in value.values:
            if isinstance(item, ListValueNode):
                out.append(
                    frozenset(v.value for v in item.values if isinstance(v, StringValueNode))
                )
            elif isinstance(item, StringValueNode):
                out.append(frozenset((item.value,)))
    elif isinstance(value, StringValueNode):
        out.append(frozenset((value.value,)))
    return tuple(out)
