"""Cache hints: what a subgraph's answer may be cached for, told to the router per response.

A subgraph declares hints by name, the way Apollo Server's `@cacheControl` does, but in
Python (`CacheHints`, passed to `build_schema`), so the SDL and the supergraph stay as
they are. The rules are Apollo's:

- a field's hint wins over the hint of the type it returns;
- a root field, or a field returning an object, interface or union, is not cacheable
  (max age 0) unless a hint on it or on its type says otherwise, or it says
  `inherit_max_age` (then it takes its parent's);
- a field returning a scalar or an enum inherits its parent's max age;
- the answer's max age is the least of its fields', and it is PRIVATE when any field or
  type on the way is.

The policy is computed from the operation's selection (once per distinct operation text;
`@skip`/`@include` are ignored, which can only lower the max age). A resolver whose answer
depends on who asks can narrow it at run time with `restrict_cache(info, ...)`. Answers
with errors and mutations are `no-store`.

The subgraph sends the policy as `Cache-Control` (`max-age=N, public|private`, or
`no-store`) and the object types it contains as `Cache-Tag` (comma separated), which the
router uses to drop the entry when a domain event names such a type (docs/caching.md). In
an `_entities` answer, the entities' own types are left out: the router tags each entity
entry with its typename and key itself.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLCompositeType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    get_operation_ast,
    is_composite_type,
    is_interface_type,
    is_object_type,
)
from strawberry.extensions import SchemaExtension

CACHE_CONTROL_HEADER = "cache-control"
CACHE_TAG_HEADER = "cache-tag"
NO_STORE = "no-store"
ENTITIES_FIELD = "_entities"


class CacheScope(StrEnum):
    PUBLIC = "PUBLIC"
    PRIVATE = "PRIVATE"


@dataclass(frozen=True, slots=True)
class CacheHint:
    max_age: int | None = None
    scope: CacheScope | None = None
    inherit_max_age: bool = False

    def __post_init__(self) -> None:
        if self.max_age is not None and self.max_age < 0:
            raise ValueError("a cache hint's max_age cannot be negative")
        if self.inherit_max_age and self.max_age is not None:
            raise ValueError("a cache hint has max_age or inherit_max_age, not both")


# "Type" or "Type.fieldName" (GraphQL names) → its hint.
CacheHints = Mapping[str, CacheHint]


@dataclass(frozen=True, slots=True)
class CachePolicy:
    max_age: int
    scope: CacheScope
    # Object types whose data the answer holds (the router's invalidation tags).
    types: frozenset[str] = frozenset()

    @property
    def cacheable(self) -> bool:
        return self.max_age > 0

    def restricted(self, max_age: int | None, private: bool) -> CachePolicy:
        return CachePolicy(
            self.max_age if max_age is None else min(self.max_age, max_age),
            CacheScope.PRIVATE if private else self.scope,
            self.types,
        )

    def headers(self) -> dict[str, str]:
        if not self.cacheable:
            return {CACHE_CONTROL_HEADER: NO_STORE}
        out = {CACHE_CONTROL_HEADER: f"max-age={self.max_age}, {self.scope.lower()}"}
        if self.types:
            out[CACHE_TAG_HEADER] = ",".join(sorted(self.types))
        return out


UNCACHEABLE = CachePolicy(0, CacheScope.PUBLIC)


def check_hints(schema: GraphQLSchema, hints: CacheHints) -> None:
    """Refuse a hint that names no type or field of the schema (a typo would silently
    leave data uncached, or worse, a PRIVATE hint unapplied)."""
    for name in hints:
        type_name, _, field_name = name.partition(".")
        named = schema.type_map.get(type_name)
        if named is None or not is_composite_type(named):
            raise ValueError(f"cache hint {name!r}: no object, interface or union {type_name}")
        if field_name and field_name not in getattr(named, "fields", {}):
            raise ValueError(f"cache hint {name!r}: {type_name} has no field {field_name}")


class _Walk:
    def __init__(
        self,
        schema: GraphQLSchema,
        hints: CacheHints,
        fragments: Mapping[str, FragmentDefinitionNode],
    ) -> None:
        self.schema = schema
        self.hints = hints
        self.fragments = fragments
        self.max_age: int | None = None
        self.private = False
        self.types: set[str] = set()

    def restrict(self, max_age: int) -> None:
        self.max_age = max_age if self.max_age is None else min(self.max_age, max_age)

    def selection(
        self,
        parent: GraphQLCompositeType,
        selections: SelectionSetNode,
        inherited: int | None,
        entities: bool = False,
        seen: frozenset[str] = frozenset(),
    ) -> None:
        for node in selections.selections:
            if isinstance(node, FieldNode):
                self.field(parent, node, inherited)
            elif isinstance(node, InlineFragmentNode):
                target = parent
                if node.type_condition is not None:
                    named = self.schema.type_map.get(node.type_condition.name.value)
                    if named is None or not is_composite_type(named):
                        continue
                    target = named
                self.branch(parent, target, node.selection_set, inherited, entities, seen)
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:
                    continue
                named = self.schema.type_map.get(fragment.type_condition.name.value)
                if named is None or not is_composite_type(named):
                    continue
                self.branch(
                    parent,
                    named,
                    fragment.selection_set,
                    inherited,
                    entities,
                    seen | {name},
                )

    def branch(
        self,
        parent: GraphQLCompositeType,
        target: GraphQLCompositeType,
        selections: SelectionSetNode,
        inherited: int | None,
        entities: bool,
        seen: frozenset[str],
    ) -> None:
        if target is not parent:
            # A narrower type: its own hint applies to what is selected on it (how the
            # `_entities` union's members get theirs).
            hint = self.hints.get(target.name)
            if hint is not None and hint.scope is CacheScope.PRIVATE:
                self.private = True
            if hint is not None and hint.max_age is not None:
                inherited = hint.max_age
            if is_object_type(target) and not entities:
                self.types.add(target.name)
        self.selection(target, selections, inherited, False, seen)

    def field(self, parent: GraphQLCompositeType, node: FieldNode, inherited: int | None) -> None:
        name = node.name.value
        if name.startswith("__"):
            return
        definition = getattr(parent, "fields", {}).get(name)
        if definition is None:
            return
        returned = get_named_type(definition.type)
        composite = is_composite_type(returned)
        field_hint = self.hints.get(f"{parent.name}.{name}")
        type_hint = self.hints.get(returned.name) if composite else None
        for hint in (type_hint, field_hint):
            if hint is not None and hint.scope is CacheScope.PRIVATE:
                self.private = True
        max_age: int | None
        if field_hint is not None and field_hint.max_age is not None:
            max_age = field_hint.max_age
        elif field_hint is not None and field_hint.inherit_max_age:
            max_age = inherited
        elif type_hint is not None and type_hint.max_age is not None:
            max_age = type_hint.max_age
        elif (type_hint is not None and type_hint.inherit_max_age) or (
            not composite and inherited is not None
        ):
            max_age = inherited
        else:
            # An unhinted root field, or field returning an object: not cacheable, except
            # `_entities`, whose members' type hints decide (below).
            max_age = None if name == ENTITIES_FIELD and inherited is None else 0
        if max_age is not None:
            self.restrict(max_age)
        if node.selection_set is None or not composite:
            return
        if is_object_type(returned) or is_interface_type(returned):
            self.types.add(returned.name)
        entities = name == ENTITIES_FIELD and inherited is None
        if entities:
            # Each member's type hint sets its entities' max age; one without is uncacheable.
            for member in _members(node.selection_set, self.schema, self.fragments):
                hint = self.hints.get(member)
                if hint is None or hint.max_age is None:
                    self.restrict(0)
        self.selection(returned, node.selection_set, max_age, entities)

    def policy(self) -> CachePolicy:
        return CachePolicy(
            self.max_age or 0,
            CacheScope.PRIVATE if self.private else CacheScope.PUBLIC,
            frozenset(self.types),
        )


def _members(
    selections: SelectionSetNode,
    schema: GraphQLSchema,
    fragments: Mapping[str, FragmentDefinitionNode],
) -> Iterable[str]:
    for node in selections.selections:
        if isinstance(node, InlineFragmentNode) and node.type_condition is not None:
            yield node.type_condition.name.value
        elif isinstance(node, FragmentSpreadNode) and node.name.value in fragments:
            yield fragments[node.name.value].type_condition.name.value


def policy_of(
    schema: GraphQLSchema,
    hints: CacheHints,
    document: DocumentNode,
    operation_name: str | None = None,
) -> CachePolicy:
    """The static policy of one operation (before run-time restrictions)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation is not OperationType.QUERY:
        return UNCACHEABLE
    root = schema.query_type
    if root is None:
        return UNCACHEABLE
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    walk = _Walk(schema, hints, fragments)
    walk.selection(root, operation.selection_set, None)
    return walk.policy()


class PolicyCache:
    """Static policies by (operation text, operation name): router-generated subgraph
    operations repeat, so each is walked once. Bounded; shared by a schema's requests."""

    def __init__(self, schema: GraphQLSchema, hints: CacheHints, size: int = 1000) -> None:
        check_hints(schema, hints)
        self.schema = schema
        self.hints = hints
        self._size = size
        self._items: OrderedDict[tuple[str, str | None], CachePolicy] = OrderedDict()
        # Subgraphs may run sync resolvers in threads; the dict is touched from the loop
        # only, but a lock keeps that true whatever Strawberry does later.
        self._lock = threading.Lock()

    def get(self, query: str, operation_name: str | None, document: DocumentNode) -> CachePolicy:
        key = (query, operation_name)
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        policy = policy_of(self.schema, self.hints, document, operation_name)
        with self._lock:
            self._items[key] = policy
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return policy


@dataclass(slots=True)
class CacheRestriction:
    """Run-time narrowing by resolvers (`restrict_cache`), kept on the request context."""

    max_age: int | None = None
    private: bool = False


def restrict_cache(info: Any, *, max_age: int | None = None, private: bool = False) -> None:
    """Narrow this answer's cache policy: a lower max age, or PRIVATE (the answer depends on
    who asks, e.g. drafts a teacher sees). It never widens what the hints allow."""
    restriction: CacheRestriction | None = getattr(info.context, "cache_restriction", None)
    if restriction is None:
        return
    if max_age is not None:
        restriction.max_age = (
            max_age if restriction.max_age is None else min(restriction.max_age, max_age)
        )
    restriction.private = restriction.private or private


class CacheControl(SchemaExtension):
    """Puts the answer's policy on the subgraph's HTTP response (`Cache-Control`,
    `Cache-Tag`); the context must carry `response` and `cache_restriction`."""

    def __init__(self, policies: PolicyCache) -> None:
        self.policies = policies

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        restriction = CacheRestriction()
        holder = context.context
        if holder is not None and hasattr(holder, "cache_restriction"):
            holder.cache_restriction = restriction
        yield
        response = getattr(holder, "response", None)
        if response is None:
            return
        result = context.result
        document = context.graphql_document
        policy = UNCACHEABLE
        if (
            isinstance(result, ExecutionResult)
            and not result.errors
            and document is not None
            and context.query is not None
        ):
            policy = self.policies.get(context.query, context.operation_name, document)
            policy = policy.restricted(restriction.max_age, restriction.private)
        response.headers.update(policy.headers())
