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
from router.edge.apq import Safelist
from router.edge.authorization import Authorization, Denial, Requirement, Verdict
from router.edge.limits import CostEstimate, LimitExceeded, OperationLimits
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
    # Fields authorization removed from the plan (answered null, with an error each).
    denials: tuple[Denial, ...] = ()


@dataclass(slots=True)
class PreparedOperation:
    document: DocumentNode
    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDefinitionNode]
    kind: OperationType
    condition_variables: tuple[str, ...]
    has_variables: bool
    introspection: DocumentNode | None
    # Root field names (rate limiting's sensitive fields, e.g. login).
    root_fields: frozenset[str] = frozenset()
    # Static cost estimate (limits.py): checked against limits.max_cost, read by rate
    # limiting's cost classes.
    cost: CostEstimate | None = None
    # The distinct authorization requirements its fields carry (usually none).
    secured: tuple[Requirement, ...] = ()
    # Keyed by the @skip/@include flags, plus the authorization verdict when one denies.
    plans: dict[tuple[Any, ...], PlannedOperation] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OperationChecks:
    """What is checked once per prepared operation, after validation, in this order (the
    order is fixed with the rest of the edge in `router/edge/pipeline.py`)."""

    # Answer `__schema`/`__type`; refused with INTROSPECTION_DISABLED when False.
    introspection: bool = True
    # Safelist mode: only listed operations run.
    safelist: Safelist | None = None
    # Depth, aliases, root fields, tokens and cost (also the estimate rate limiting uses).
    limits: OperationLimits | None = None


class Operations:
    def __init__(
        self,
        supergraph: Supergraph,
        api_schema: GraphQLSchema,
        capacity: int,
        checks: OperationChecks | None = None,
        authorization: Authorization | None = None,
    ) -> None:
        self.supergraph = supergraph
        self.api_schema = api_schema
        self.checks = checks or OperationChecks()
        self.authorization = authorization
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
        checks = self.checks
        limits = checks.limits
        try:
            document = parse(
                query, no_location=False, max_tokens=limits.max_tokens if limits else None
            )
        except GraphQLError as exc:
            code = PARSE_FAILED
            if limits is not None and "tokens" in exc.message and "Parsing aborted" in exc.message:
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
                raise OperationError([_plain_error(message, VALIDATION_FAILED)])
        elif len(operations) > 1:
            message = "Must provide operation name if query contains multiple operations."
            raise OperationError([_plain_error(message, VALIDATION_FAILED)])
        else:
            chosen = operations
        operation = chosen[0]
        if not checks.introspection and _selects_introspection(
            operation.selection_set, fragments, set()
        ):
            message = (
                "Introspection is disabled on this router (`__schema` and `__type` are not "
                "answered); set limits.introspection: true in router.yaml to enable it "
                "(in production also ROUTER_EXPOSE_SCHEMA_IN_PRODUCTION=true)."
            )
            raise OperationError([_plain_error(message, "INTROSPECTION_DISABLED")])
        introspection = _introspection_document(operation, fragments)
        if checks.safelist is not None and not checks.safelist.allows(operation, fragments):
            message = (
                "This operation is not in the router's safelist of persisted operations; "
                "only the operations in the client's operation files are accepted."
            )
            raise OperationError([_plain_error(message, "OPERATION_NOT_IN_SAFELIST")], 403)
        cost: CostEstimate | None = None
        if limits is not None:
            try:
                cost = limits.check(self.api_schema, operation, fragments)
            except LimitExceeded as exc:
                raise OperationError([_plain_error(exc.message, exc.code)]) from None
        return PreparedOperation(
            document=document,
            operation=operation,
            fragments=fragments,
            kind=operation.operation,
            condition_variables=tuple(
                sorted(conditional_variables(operation.selection_set, fragments))
            ),
            has_variables=bool(operation.variable_definitions),
            introspection=introspection,
            root_fields=frozenset(
                sel.name.value
                for sel in operation.selection_set.selections
                if isinstance(sel, FieldNode)
            ),
            cost=cost,
            secured=(
                self.authorization.requirements_of(
                    self._root_type(operation.operation), operation, fragments
                )
                if self.authorization is not None
                else ()
            ),
        )

    def _root_type(self, kind: OperationType) -> str:
        schema = self.supergraph.schema
        root = schema.mutation_type if kind is OperationType.MUTATION else schema.query_type
        assert root is not None
        return root.name

    def cost(self, prepared: PreparedOperation, coerced: dict[str, Any]) -> int:
        """The operation's estimated cost for this request's variables (0 when no estimate
        is kept); raises OperationError beyond limits.max_cost."""
        estimate = prepared.cost
        if estimate is None:
            return 0
        limits = self.checks.limits
        if not estimate.size_variables or limits is None:
            return estimate.cost
        try:
            return limits.variable_cost(
                estimate, self.api_schema, prepared.operation, prepared.fragments, coerced
            )
        except LimitExceeded as exc:
            raise OperationError([_plain_error(exc.message, exc.code)]) from None

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
        self, prepared: PreparedOperation, coerced: dict[str, Any], viewer: Viewer | None = None
    ) -> PlannedOperation:
        conditions = tuple(bool(coerced.get(name)) for name in prepared.condition_variables)
        key: tuple[Any, ...] = conditions
        verdict: Verdict | None = None
        authorization = self.authorization
        if prepared.secured and authorization is not None:
            verdict = authorization.verdict(prepared.secured, viewer)
            if any(verdict):
                key = (*conditions, verdict)
            else:
                verdict = None
        planned = prepared.plans.get(key)
        if planned is None:
            flags = dict(zip(prepared.condition_variables, conditions, strict=True))
            operation, fragments = prepared.operation, prepared.fragments
            denials: tuple[Denial, ...] = ()
            if verdict is not None and authorization is not None:
                denied = {r: c for r, c in zip(prepared.secured, verdict, strict=True) if c}
                operation, fragments, denials = authorization.restrict(
                    self._root_type(prepared.kind), operation, fragments, denied
                )
            plan = PlanBuilder(self.supergraph, operation, fragments, flags).build()
            # The client's full selection: denied fields are missing from the data and
            # read as null.
            projection = Compiler(
                self.supergraph.schema, self.api_schema, prepared.fragments, flags
            ).compile(prepared.operation)
            planned = prepared.plans[key] = PlannedOperation(plan, projection, denials)
        return planned


_INTROSPECTION_FIELDS = frozenset(("__schema", "__type"))


def _plain_error(message: str, code: str) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code}}


def _selects_introspection(
    selection_set: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    seen: set[str],
) -> bool:
    """Whether `__schema` or `__type` appears anywhere: under aliases, in inline fragments,
    in named fragments (each followed once)."""
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value in _INTROSPECTION_FIELDS:
                return True
            inner = selection.selection_set
        elif isinstance(selection, InlineFragmentNode):
            inner = selection.selection_set
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in seen:
                continue
            seen.add(name)
            inner = fragment.selection_set
        else:
            continue
        if inner is not None and _selects_introspection(inner, fragments, seen):
            return True
    return False


def _introspection_selections(
    selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode]
) -> tuple[SelectionNode, ...]:
    """The root selection set cut down to its `__schema`/`__type` fields. Fragments that hold
    some stay (named ones inlined), with their directives, so @skip/@include still apply."""
    kept: list[SelectionNode] = []
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value in _INTROSPECTION_FIELDS:
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
                    directives=selection.directives,
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
