"""Client operations: parse and validate once, then plan once per @skip/@include variant.

`Operations.prepare` is the cache in front of graphql-core: a repeated (query, operation
name) skips parsing and validation entirely.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    parse,
    validate,
)
from graphql.execution.values import get_variable_values

from router.plan_cache import LRUCache
from router.planner.builder import PlanBuilder
from router.planner.collect import conditional_variables
from router.planner.plan import Plan
from router.projection import CompiledObject, Compiler
from router.supergraph import Supergraph

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"


class OperationError(Exception):
    """The request cannot be executed; `errors` are GraphQL errors for the client."""

    def __init__(self, errors: list[dict[str, Any]], status: int = 400) -> None:
        super().__init__(errors[0]["message"] if errors else "bad request")
        self.errors = errors
        self.status = status


def error_dict(error: GraphQLError, code: str) -> dict[str, Any]:
    out = error.formatted
    out.setdefault("extensions", {})["code"] = code
    return dict(out)


@dataclass(frozen=True, slots=True)
class PlannedOperation:
    plan: Plan
    projection: CompiledObject


@dataclass(slots=True)
class PreparedOperation:
    document: DocumentNode
    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDefinitionNode]
    kind: OperationType
    condition_variables: tuple[str, ...]
    has_variables: bool
    introspection: DocumentNode | None
    plans: dict[tuple[bool, ...], PlannedOperation] = field(default_factory=dict)


class Operations:
    def __init__(self, supergraph: Supergraph, api_schema: GraphQLSchema, capacity: int) -> None:
        self.supergraph = supergraph
        self.api_schema = api_schema
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
            document = parse(query, no_location=False)
        except GraphQLError as exc:
            raise OperationError([error_dict(exc, PARSE_FAILED)]) from None
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
                raise OperationError([_plain_error(message, VALIDATION_FAILED)])
        elif len(operations) > 1:
            message = "Must provide operation name if query contains multiple operations."
            raise OperationError([_plain_error(message, VALIDATION_FAILED)])
        else:
            chosen = operations
        operation = chosen[0]
        return PreparedOperation(
            document=document,
            operation=operation,
            fragments=fragments,
            kind=operation.operation,
            condition_variables=tuple(
                sorted(conditional_variables(operation.selection_set, fragments))
            ),
            has_variables=bool(operation.variable_definitions),
            introspection=_introspection_document(operation, fragments),
        )

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

    def planned(self, prepared: PreparedOperation, coerced: dict[str, Any]) -> PlannedOperation:
        key = tuple(bool(coerced.get(name)) for name in prepared.condition_variables)
        planned = prepared.plans.get(key)
        if planned is None:
            flags = dict(zip(prepared.condition_variables, key, strict=True))
            plan = PlanBuilder(
                self.supergraph, prepared.operation, prepared.fragments, flags
            ).build()
            projection = Compiler(
                self.supergraph.schema, self.api_schema, prepared.fragments, flags
            ).compile(prepared.operation)
            planned = prepared.plans[key] = PlannedOperation(plan, projection)
        return planned


def _plain_error(message: str, code: str) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code}}


def _introspection_document(
    operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]
) -> DocumentNode | None:
    """A document with only the operation's root `__schema`/`__type` fields, for graphql-core."""
    fields = [
        sel
        for sel in operation.selection_set.selections
        if isinstance(sel, FieldNode) and sel.name.value in ("__schema", "__type")
    ]
    if not fields:
        return None
    op = OperationDefinitionNode(
        operation=OperationType.QUERY,
        name=None,
        variable_definitions=operation.variable_definitions,
        directives=(),
        selection_set=SelectionSetNode(selections=tuple(fields)),
    )
    return DocumentNode(definitions=(op, *fragments.values()))
