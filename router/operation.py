"""Client operations: parse, validate and run the operation checks once, then plan once
per @skip/@include variant and restriction.

`Operations.prepare` is the cache in front of graphql-core: a repeated (query, operation
name) skips parsing, validation and the checks' `prepare` entirely. The checks come from
the edge (router/checks.py says what they may do); this module knows none of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    NamedTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionNode,
    SelectionSetNode,
    parse,
    validate,
)
from graphql.execution.values import get_variable_values

from coursegraph.identity import Viewer
from router.checks import OperationCheck, Restriction, overrides
from router.plan_cache import LRUCache
from router.planner.builder import PlanBuilder
from router.planner.collect import conditional_variables, has_defer
from router.planner.defer import find_deferred
from router.prepared import (
    BAD_USER_INPUT,
    PARSE_FAILED,
    VALIDATION_FAILED,
    OperationError,
    PlannedOperation,
    PreparedOperation,
    Restricted,
    error_dict,
)
from router.projection import Compiler
from router.supergraph import Supergraph


class Operations:
    def __init__(
        self,
        supergraph: Supergraph,
        api_schema: GraphQLSchema,
        capacity: int,
        checks: Sequence[OperationCheck[Any]] = (),
        *,
        max_tokens: int | None = None,
    ) -> None:
        """`checks` run in the order given (router/checks.py); `max_tokens` stops parsing
        an operation of more tokens (limits.max_tokens)."""
        self.supergraph = supergraph
        self.api_schema = api_schema
        self.checks = tuple(checks)
        self.max_tokens = max_tokens
        # (index into the notes, check) for the checks taking part in each request.
        self._costing = [(i, c) for i, c in enumerate(self.checks) if overrides(c, "cost")]
        self._restricting = [
            (i, c) for i, c in enumerate(self.checks) if overrides(c, "restriction")
        ]
        self.cache: LRUCache[tuple[str, str | None], PreparedOperation | OperationError] = LRUCache(
            capacity
        )

    def prepare(self, query: str, operation_name: str | None) -> PreparedOperation:
        key = (query, operation_name)
        cached = self.cache.get(key)
        if cached is None:
            try:
                cached = self._prepare(query, operation_name)
            except OperationError as exc:
                cached = exc
            self.cache.put(key, cached)
        if isinstance(cached, OperationError):
            raise cached
        return cached

    def _prepare(self, query: str, operation_name: str | None) -> PreparedOperation:
        try:
            document = parse(query, no_location=False, max_tokens=self.max_tokens)
        except GraphQLError as exc:
            code = PARSE_FAILED
            if (
                self.max_tokens is not None
                and "tokens" in exc.message
                and "Parsing aborted" in exc.message
            ):
                code = "MAX_TOKENS_LIMIT"
            raise OperationError([error_dict(exc, code)]) from None
        errors = validate(self.api_schema, document)
        if errors:
            raise OperationError([error_dict(e, VALIDATION_FAILED) for e in errors])
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        if operation_name:
            chosen = [op for op in operations if op.name and op.name.value == operation_name]
            if not chosen:
                message = f"Unknown operation named '{operation_name}'."
                raise OperationError.of(message, VALIDATION_FAILED)
        elif len(operations) > 1:
            message = "Must provide operation name if query contains multiple operations."
            raise OperationError.of(message, VALIDATION_FAILED)
        else:
            chosen = operations
        operation = chosen[0]
        prepared = PreparedOperation(
            document=document,
            operation=operation,
            fragments=fragments,
            kind=operation.operation,
            root_type=self._root_type(operation.operation),
            condition_variables=tuple(
                sorted(conditional_variables(operation.selection_set, fragments))
            ),
            has_variables=bool(operation.variable_definitions),
            has_defer=has_defer(operation.selection_set, fragments),
            introspection=_introspection_document(operation, fragments),
            root_fields=frozenset(
                sel.name.value
                for sel in operation.selection_set.selections
                if isinstance(sel, FieldNode)
            ),
        )
        prepared.notes = tuple(check.prepare(prepared) for check in self.checks)
        return prepared

    def _root_type(self, kind: OperationType) -> str:
        schema = self.supergraph.schema
        root = schema.get_root_type(kind)
        assert root is not None  # validation refused an operation on a missing root type
        return root.name

    def cost(self, prepared: PreparedOperation, coerced: dict[str, Any]) -> int:
        """The operation's estimated cost for this request's variables, as the checks
        measure it (0 when none does); raises OperationError when a check refuses it."""
        notes = prepared.notes
        return sum(check.cost(prepared, notes[i], coerced) for i, check in self._costing)

    def coerce_variables(
        self, prepared: PreparedOperation, raw: dict[str, Any] | None
    ) -> dict[str, Any]:
        if not prepared.has_variables:
            return {}
        result = get_variable_values(
            self.api_schema, prepared.operation.variable_definitions or (), raw or {}
        )
        if isinstance(result, list):
            raise OperationError([error_dict(e, BAD_USER_INPUT) for e in result])
        return dict(result.coerced)

    def planned(
        self,
        prepared: PreparedOperation,
        coerced: dict[str, Any],
        viewer: Viewer | None = None,
        labels: frozenset[str] = frozenset(),
        incremental: bool = False,
    ) -> PlannedOperation:
        """The plan for these variables, viewer and progressive override labels on.
        `incremental`: the client reads incremental responses, so @defer fragments are
        planned as parts of their own; otherwise they are planned like any fragment and the
        answer comes whole."""
        conditions = tuple(bool(coerced.get(name)) for name in prepared.condition_variables)
        defer = incremental and prepared.has_defer
        key: tuple[Any, ...] = (*conditions, defer) if prepared.has_defer else conditions
        if labels:
            key = (*key, labels)
        restrictions: tuple[Restriction | None, ...] = ()
        if self._restricting:
            notes = prepared.notes
            restrictions = tuple(
                check.restriction(prepared, notes[i], viewer) for i, check in self._restricting
            )
            if any(r is not None for r in restrictions):
                key = (*key, *restrictions)
            else:
                restrictions = ()
        planned = prepared.plans.get(key)
        if planned is None:
            flags = dict(zip(prepared.condition_variables, conditions, strict=True))
            operation, fragments = prepared.operation, prepared.fragments
            restricted: list[Restricted] = []
            for restriction in restrictions:
                if restriction is not None:
                    applied = restriction.apply(operation, fragments)
                    operation, fragments = applied.operation, applied.fragments
                    restricted.append(applied)
            supergraph = self.supergraph.with_labels(labels)
            plan = PlanBuilder(supergraph, operation, fragments, flags, defer).build()
            # The client's full selection: fields a restriction took out are missing from
            # the data and read as null.
            compiler = Compiler(
                self.supergraph.schema, self.api_schema, prepared.fragments, flags, defer
            )
            projection = compiler.compile(prepared.operation)
            # Each deferred part's own projection. The client's fragments are found again in
            # the client's operation: a restriction keeps every fragment, only fields go.
            deferred = None
            # Only when something is deferred (`@defer(if: false)` everywhere: plain JSON).
            if plan.deferred:
                client = find_deferred(
                    self.supergraph.schema, prepared.operation, prepared.fragments, flags
                )
                deferred = {
                    fragment.key: compiler.deferred(
                        fragment.types, fragment.selection_set, fragment.root
                    )
                    for fragment in client.values()
                }
            planned = prepared.plans[key] = PlannedOperation(
                plan, projection, tuple(restricted), deferred
            )
        return planned


INTROSPECTION_FIELDS = frozenset(("__schema", "__type"))


def _introspection_selections(
    selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode]
) -> tuple[SelectionNode, ...]:
    """The root selection set cut down to its `__schema`/`__type` fields. Fragments that hold
    some stay (named ones inlined), with their directives, so @skip/@include still apply."""
    kept: list[SelectionNode] = []
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value in INTROSPECTION_FIELDS:
                kept.append(selection)
            continue
        if isinstance(selection, InlineFragmentNode):
            condition, inner = selection.type_condition, selection.selection_set
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is None:
                continue
            condition = NamedTypeNode(name=fragment.type_condition.name)
            inner = fragment.selection_set
        else:
            continue
        nested = _introspection_selections(inner, fragments)
        if nested:
            kept.append(
                InlineFragmentNode(
                    type_condition=condition,
                    # Answered with the primary part: graphql-core must not defer them.
                    directives=tuple(
                        d for d in selection.directives or () if d.name.value != "defer"
                    ),
                    selection_set=SelectionSetNode(selections=nested),
                )
            )
    return tuple(kept)


def _introspection_document(
    operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]
) -> DocumentNode | None:
    """A document with only the operation's root `__schema`/`__type` fields (also those in
    root fragments), for graphql-core; the router answers them itself."""
    if operation.operation is not OperationType.QUERY:
        return None  # validation allows them on the query root type only
    selections = _introspection_selections(operation.selection_set, fragments)
    if not selections:
        return None
    op = OperationDefinitionNode(
        operation=OperationType.QUERY,
        name=None,
        variable_definitions=operation.variable_definitions,
        directives=(),
        selection_set=SelectionSetNode(selections=selections),
    )
    return DocumentNode(definitions=(op, *fragments.values()))
