"""Operation limits: depth, aliases, root fields, tokens, static cost (the body cap is the
kernel's, coursegraph/body_limit.py).

The analysis runs once per prepared (cached) operation, after validation and before
planning, and a refusal is cached with the operation like a validation error: a repeated
operation costs nothing here. The one per-request part is for operations whose list sizes
come from variables (`first: $first`): their cost is re-estimated with the values sent,
memoised per combination of those values.

`LimitsCheck` is the operation check (router/checks.py) the pipeline runs; the token limit
is applied by the parser itself (`Operations(max_tokens=...)`).

The cost is the kernel's estimate (coursegraph/cost.py: Apollo Router's demand control
over the subgraphs' `@cost`/`@listSize`, as composed into the supergraph).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import FragmentDefinitionNode, GraphQLSchema, OperationDefinitionNode

from coursegraph.cost import CostQueryError, CostWalk, field_costs
from router.checks import OperationCheck
from router.config import LimitsConfig
from router.prepared import OperationError, PreparedOperation

# Cost estimates kept per operation for different list-size variable values.
_VARIABLE_COSTS_KEPT = 64


class LimitExceeded(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class CostEstimate:
    """An operation's cost with list sizes from literals and variable defaults, plus what
    is needed to re-estimate it for other variable values."""

    cost: int
    size_variables: tuple[str, ...]
    memo: dict[tuple[Any, ...], int]


class OperationLimits:
    def __init__(self, config: LimitsConfig, supergraph_schema: GraphQLSchema) -> None:
        self.config = config
        self.max_tokens = config.max_tokens
        self.fields = field_costs(supergraph_schema)

    def _walk(
        self,
        schema: GraphQLSchema,
        operation: OperationDefinitionNode,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any] | None,
    ) -> tuple[CostWalk, int]:
        walk = CostWalk(
            self.fields, self.config.default_list_size, schema, fragments, operation, variables
        )
        try:
            return walk, walk.run()
        except CostQueryError as exc:
            raise LimitExceeded(exc.code, exc.message) from None

    def check(
        self,
        schema: GraphQLSchema,
        operation: OperationDefinitionNode,
        fragments: Mapping[str, FragmentDefinitionNode],
    ) -> CostEstimate:
        """Raise LimitExceeded for the first limit the operation breaks; else its cost."""
        config = self.config
        walk, cost = self._walk(schema, operation, fragments, None)
        if config.max_depth is not None and walk.max_depth > config.max_depth:
            raise LimitExceeded(
                "MAX_DEPTH_LIMIT",
                f"The operation is nested {walk.max_depth} levels deep; the limit is "
                f"{config.max_depth}.",
            )
        if config.max_aliases is not None and walk.aliases > config.max_aliases:
            raise LimitExceeded(
                "MAX_ALIASES_LIMIT",
                f"The operation uses {walk.aliases} aliases; the limit is {config.max_aliases}.",
            )
        roots = walk.root_fields
        if config.max_root_fields is not None and roots > config.max_root_fields:
            raise LimitExceeded(
                "MAX_ROOT_FIELDS_LIMIT",
                f"The operation selects {roots} root fields; the limit is "
                f"{config.max_root_fields}.",
            )
        self.check_cost(cost)
        return CostEstimate(cost, tuple(sorted(walk.size_variables)), {})

    def check_cost(self, cost: int) -> None:
        limit = self.config.max_cost
        if limit is not None and cost > limit:
            raise LimitExceeded(
                "COST_ESTIMATED_TOO_EXPENSIVE",
                f"The operation's estimated cost is {cost}; the limit is {limit}.",
            )

    def variable_cost(
        self,
        estimate: CostEstimate,
        schema: GraphQLSchema,
        operation: OperationDefinitionNode,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> int:
        """The cost with the list sizes the request's variables give; raises LimitExceeded."""
        key = tuple(variables.get(name) for name in estimate.size_variables)
        cost = estimate.memo.get(key)
        if cost is None:
            cost = self._walk(schema, operation, fragments, variables)[1]
            if len(estimate.memo) >= _VARIABLE_COSTS_KEPT:
                estimate.memo.clear()
            estimate.memo[key] = cost
        self.check_cost(cost)
        return cost


class LimitsCheck(OperationCheck[CostEstimate]):
    """Depth, aliases, root fields and cost once per operation; its note is the cost
    estimate, re-estimated per request only when list sizes come from variables."""

    def __init__(self, limits: OperationLimits, api_schema: GraphQLSchema) -> None:
        self.limits = limits
        self.api_schema = api_schema

    def prepare(self, operation: PreparedOperation) -> CostEstimate:
        try:
            return self.limits.check(self.api_schema, operation.operation, operation.fragments)
        except LimitExceeded as exc:
            raise OperationError.of(exc.message, exc.code) from None

    def cost(
        self, operation: PreparedOperation, note: CostEstimate, variables: Mapping[str, Any]
    ) -> int:
        if not note.size_variables:
            return note.cost
        try:
            return self.limits.variable_cost(
                note, self.api_schema, operation.operation, operation.fragments, variables
            )
        except LimitExceeded as exc:
            raise OperationError.of(exc.message, exc.code) from None
