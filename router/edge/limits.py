"""Operation limits: depth, aliases, root fields, tokens, static cost; body size.

The analysis runs once per prepared (cached) operation, after validation and before
planning, and a refusal is cached with the operation like a validation error: a repeated
operation costs nothing here. The one per-request part is for operations whose list sizes
come from variables (`first: $first`): their cost is re-estimated with the values sent,
memoised per combination of those values.

Cost follows Apollo's demand control: an object (or interface/union) costs 1, a scalar or
enum 0, a mutation root field 10, and a list multiplies its items' cost by its size: the
`first`/`last`/`limit` argument (or the field's `@listSize(slicingArguments:)`), else
`@listSize(assumedSize:)`, else `default_list_size`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLType,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
    get_named_type,
    is_composite_type,
)

from router.config import LimitsConfig

SLICING_ARGUMENTS = ("first", "last", "limit")
MUTATION_COST = 10
# Cost estimates kept per operation for different list-size variable values.
_VARIABLE_COSTS_KEPT = 64


class LimitExceeded(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class _ListSize:
    assumed: int | None
    slicing: tuple[str, ...]


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
        self.list_sizes = _list_size_directives(supergraph_schema)

    def check(
        self,
        schema: GraphQLSchema,
        operation: OperationDefinitionNode,
        fragments: Mapping[str, FragmentDefinitionNode],
    ) -> CostEstimate:
        """Raise LimitExceeded for the first limit the operation breaks; else its cost."""
        config = self.config
        root = schema.get_root_type(operation.operation)
        walk = _Walk(self, schema, fragments, operation, None)
        cost = walk.selection_cost(operation.selection_set, root, 1)
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
            root = schema.get_root_type(operation.operation)
            walk = _Walk(self, schema, fragments, operation, variables)
            cost = walk.selection_cost(operation.selection_set, root, 1)
            if len(estimate.memo) >= _VARIABLE_COSTS_KEPT:
                estimate.memo.clear()
            estimate.memo[key] = cost
        self.check_cost(cost)
        return cost


class _Walk:
    """One pass over the operation, fragments expanded: depth, aliases, root fields, cost."""

    def __init__(
        self,
        limits: OperationLimits,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any] | None,
    ) -> None:
        self.limits = limits
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.defaults: dict[str, Any] = {}
        for definition in operation.variable_definitions or ():
            default = definition.default_value
            if isinstance(default, IntValueNode):
                self.defaults[definition.variable.name.value] = int(default.value)
        self.mutation = operation.operation is OperationType.MUTATION
        self.max_depth = 0
        self.aliases = 0
        self.root_fields = 0
        self.size_variables: set[str] = set()

    def selection_cost(self, selection_set: SelectionSetNode, parent: Any, depth: int) -> int:
        cost = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                cost += self.field_cost(selection, parent, depth)
            elif isinstance(selection, InlineFragmentNode):
                condition = parent
                if selection.type_condition is not None:
                    condition = self.schema.get_type(selection.type_condition.name.value)
                cost += self.selection_cost(selection.selection_set, condition, depth)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    condition = self.schema.get_type(fragment.type_condition.name.value)
                    cost += self.selection_cost(fragment.selection_set, condition, depth)
        return cost

    def field_cost(self, node: FieldNode, parent: Any, depth: int) -> int:
        if depth == 1:
            self.root_fields += 1
        if node.alias is not None:
            self.aliases += 1
        if depth > self.max_depth:
            self.max_depth = depth
        name = node.name.value
        fields = getattr(parent, "fields", None)
        definition: GraphQLField | None = fields.get(name) if fields is not None else None
        if definition is None:  # __typename, __schema, __type
            if node.selection_set is not None:
                self._depth_only(node.selection_set, depth + 1)
            return 0
        named = get_named_type(definition.type)
        cost = 1 if is_composite_type(named) else 0
        if node.selection_set is not None:
            cost += self.selection_cost(node.selection_set, named, depth + 1)
        if _is_list(definition.type):
            cost *= self.list_size(node, parent.name, name)
        if depth == 1 and self.mutation:
            cost += MUTATION_COST
        return cost

    def _depth_only(self, selection_set: SelectionSetNode, depth: int) -> None:
        """Introspection selections: counted for depth (they can nest deeply), not cost."""
        for selection in selection_set.selections:
            if depth > self.max_depth:
                self.max_depth = depth
            inner = getattr(selection, "selection_set", None)
            if isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                inner = fragment.selection_set if fragment is not None else None
            if inner is not None:
                self._depth_only(inner, depth + (1 if isinstance(selection, FieldNode) else 0))

    def list_size(self, node: FieldNode, type_name: str, field_name: str) -> int:
        declared = self.limits.list_sizes.get((type_name, field_name))
        slicing = declared.slicing if declared and declared.slicing else SLICING_ARGUMENTS
        sizes: list[int] = []
        for argument in node.arguments or ():
            if argument.name.value not in slicing:
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                sizes.append(int(value.value))
            elif isinstance(value, VariableNode):
                variable = value.name.value
                self.size_variables.add(variable)
                given = self.variables.get(variable) if self.variables is not None else None
                if isinstance(given, int):
                    sizes.append(given)
                elif variable in self.defaults:
                    sizes.append(self.defaults[variable])
        if sizes:
            return max(0, max(sizes))
        if declared is not None and declared.assumed is not None:
            return declared.assumed
        return self.limits.config.default_list_size


def _is_list(gql_type: GraphQLType) -> bool:
    while isinstance(gql_type, GraphQLNonNull):
        gql_type = gql_type.of_type
    return isinstance(gql_type, GraphQLList)


def _list_size_directives(schema: GraphQLSchema) -> dict[tuple[str, str], _ListSize]:
    """`@listSize(assumedSize:, slicingArguments:)` on supergraph fields (cost spec)."""
    found: dict[tuple[str, str], _ListSize] = {}
    for type_name, gql_type in schema.type_map.items():
        if not isinstance(gql_type, GraphQLObjectType | GraphQLInterfaceType):
            continue
        for field_name, field in gql_type.fields.items():
            node = field.ast_node
            for directive in (node.directives or ()) if node is not None else ():
                if directive.name.value != "listSize":
                    continue
                assumed: int | None = None
                slicing: tuple[str, ...] = ()
                for argument in directive.arguments or ():
                    value = argument.value
                    if argument.name.value == "assumedSize" and isinstance(value, IntValueNode):
                        assumed = int(value.value)
                    elif argument.name.value == "slicingArguments" and isinstance(
                        value, ListValueNode
                    ):
                        slicing = tuple(
                            v.value for v in value.values if isinstance(v, StringValueNode)
                        )
                found[(type_name, field_name)] = _ListSize(assumed, slicing)
    return found
