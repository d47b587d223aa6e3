"""Static cost of a GraphQL operation, shared by the router (demand control at the edge)
and every subgraph (the same estimate, whoever calls).

Cost follows Apollo Router's demand control (the IBM cost spec, as composed from the
subgraphs' `@cost` and `@listSize`): an object (or interface/union) costs 1, a scalar or
enum 0, unless the field or its type says `@cost(weight:)`; an argument with `@cost` adds
its weight when given; a mutation root field adds 10. A list multiplies its items' cost by
its size:
- the largest of the field's declared `@listSize(slicingArguments:)` as sent (literal or
  variable) or defaulted in the schema; with `requireOneSlicingArgument` (the default)
  exactly one must have a value, else COST_QUERY_PARSE_FAILURE;
- a `sizedFields` child (`edges` of a connection) takes the size its parent computed;
- else `@listSize(assumedSize:)`;
- else, undeclared, `default_list_size`, or more when a `first`/`last`/`limit` argument asks
  for more: nothing says the subgraph honours the argument, so it never lowers the guess.
A field skipped by a literal `@skip(if: true)`/`@include(if: false)` costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    BooleanValueNode,
    DirectiveNode,
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
    ValueNode,
    VariableNode,
    get_named_type,
    is_composite_type,
)

SLICING_ARGUMENTS = ("first", "last", "limit")
MUTATION_COST = 10

# A parent's `@listSize(sizedFields:)` and the size it computed for them.
Sized = tuple[frozenset[str], int]


class CostQueryError(Exception):
    """The operation cannot be costed (COST_QUERY_PARSE_FAILURE), e.g. a field that needs
    exactly one slicing argument got none or several."""

    code = "COST_QUERY_PARSE_FAILURE"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class ListSize:
    assumed: int | None
    slicing: tuple[str, ...]
    sized: frozenset[str]
    require_one: bool
    # Schema defaults of the slicing arguments (`first: Int = 20`).
    defaults: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class FieldCost:
    """What the cost spec declares about one field."""

    # `@cost(weight:)` of the field, else of its named type; None: the default (1 or 0).
    weight: int | None
    list_size: ListSize | None
    # `@cost(weight:)` of its arguments.
    arguments: tuple[tuple[str, int], ...]


class CostWalk:
    """One pass over an operation, fragments expanded: its depth, aliases, root fields and
    cost. `variables` None: before the request's values are known (their names that size
    lists are collected in `size_variables`); `list_size` may size a list field itself
    (a subgraph's `_entities`: as many as the representations)."""

    def __init__(
        self,
        costs: Mapping[tuple[str, str], FieldCost],
        default_list_size: int,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any] | None,
        list_size: Callable[[FieldNode, CostWalk], int | None] | None = None,
    ) -> None:
        self.costs = costs
        self.default_list_size = default_list_size
        self.list_size = list_size
        self.operation = operation
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

    def run(self) -> int:
        """The operation's cost (depth, aliases and root fields are counted on the way)."""
        root = self.schema.get_root_type(self.operation.operation)
        return self.selection_cost(self.operation.selection_set, root, 1, None)

    def selection_cost(
        self, selection_set: SelectionSetNode, parent: Any, depth: int, sized: Sized | None
    ) -> int:
        """`sized`: the `sizedFields` of the parent's @listSize and the size it computed."""
        cost = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                size = sized[1] if sized is not None and selection.name.value in sized[0] else None
                cost += self.field_cost(selection, parent, depth, size)
            elif isinstance(selection, InlineFragmentNode):
                condition = parent
                if selection.type_condition is not None:
                    condition = self.schema.get_type(selection.type_condition.name.value)
                cost += self.selection_cost(selection.selection_set, condition, depth, sized)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    condition = self.schema.get_type(fragment.type_condition.name.value)
                    cost += self.selection_cost(fragment.selection_set, condition, depth, sized)
        return cost

    def field_cost(self, node: FieldNode, parent: Any, depth: int, sized: int | None) -> int:
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
        declared = self.costs.get((parent.name, name))
        named = get_named_type(definition.type)
        cost = 1 if is_composite_type(named) else 0
        if declared is not None and declared.weight is not None:
            cost = declared.weight
        list_size = declared.list_size if declared is not None else None
        expected = self.expected_size(node, list_size) if list_size is not None else None
        if node.selection_set is not None:
            children = (list_size.sized, expected) if list_size and expected is not None else None
            cost += self.selection_cost(node.selection_set, named, depth + 1, children)
        if _is_list(definition.type):
            fixed = self.list_size(node, self) if self.list_size is not None else None
            if fixed is not None:
                count = fixed
            elif sized is not None:
                count = sized
            elif expected is not None:
                count = expected
            else:
                count = self.undeclared_size(node)
            cost *= count
        if declared is not None:
            given = {argument.name.value for argument in node.arguments or ()}
            cost += sum(weight for arg, weight in declared.arguments if arg in given)
        if depth == 1 and self.mutation:
            cost += MUTATION_COST
        return 0 if _skipped(node) else cost

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

    def int_argument(self, value: ValueNode) -> int | None:
        """An argument's integer value: a literal, or a variable's value (re-estimated per
        request, so its name is recorded) or its default."""
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, VariableNode):
            variable = value.name.value
            self.size_variables.add(variable)
            given = self.variables.get(variable) if self.variables is not None else None
            if isinstance(given, int):
                return given
            return self.defaults.get(variable)
        return None

    def expected_size(self, node: FieldNode, declared: ListSize) -> int | None:
        """The size `@listSize` gives (Apollo's rule): the largest slicing argument value,
        sent or defaulted, else `assumedSize`."""
        if not declared.slicing:
            return declared.assumed
        values = dict(declared.defaults)
        given = set(values)
        for argument in node.arguments or ():
            if argument.name.value in declared.slicing:
                value = self.int_argument(argument.value)
                if value is not None:
                    values[argument.name.value] = value
                # A variable counts as given even before its value is known.
                if value is not None or isinstance(argument.value, VariableNode):
                    given.add(argument.name.value)
        if declared.require_one and len(given) != 1:
            raise CostQueryError(
                f"`{node.name.value}` needs exactly one of its slicing arguments "
                f"({', '.join(declared.slicing)}); {len(given)} were given.",
            )
        if values:
            return max(0, max(values.values()))
        return declared.assumed

    def undeclared_size(self, node: FieldNode) -> int:
        """A list without @listSize: the default size, or more if a conventional slicing
        argument asks for more (never less: nothing says the subgraph honours it)."""
        size = self.default_list_size
        for argument in node.arguments or ():
            if argument.name.value in SLICING_ARGUMENTS:
                value = self.int_argument(argument.value)
                if value is not None and value > size:
                    size = value
        return size


def _skipped(node: FieldNode) -> bool:
    """Excluded by a literal `@skip(if: true)` or `@include(if: false)`."""
    for directive in node.directives or ():
        name = directive.name.value
        if name not in ("skip", "include"):
            continue
        for argument in directive.arguments or ():
            value = argument.value
            if isinstance(value, BooleanValueNode) and value.value == (name == "skip"):
                return True
    return False


def _is_list(gql_type: GraphQLType) -> bool:
    while isinstance(gql_type, GraphQLNonNull):
        gql_type = gql_type.of_type
    return isinstance(gql_type, GraphQLList)


def field_costs(schema: GraphQLSchema) -> dict[tuple[str, str], FieldCost]:
    """The cost spec's `@cost` and `@listSize` on the fields, arguments and types of a
    schema built from SDL, keyed by (type, field); fields with neither are left out. The
    names are those subgraphs import and Apollo's composition (and ours) writes: `@cost`,
    and `@listSize` (`@cost__listSize` in a supergraph where no subgraph imported it)."""
    cost_name = "cost"
    list_size_names = {"listSize", "cost__listSize"}
    type_weights = {
        name: weight
        for name, gql_type in schema.type_map.items()
        if (weight := _weight(getattr(gql_type, "ast_node", None), cost_name)) is not None
    }
    found: dict[tuple[str, str], FieldCost] = {}
    for type_name, gql_type in schema.type_map.items():
        if not isinstance(gql_type, GraphQLObjectType | GraphQLInterfaceType):
            continue
        for field_name, field in gql_type.fields.items():
            node = field.ast_node
            weight = _weight(node, cost_name)
            if weight is None:
                weight = type_weights.get(get_named_type(field.type).name)
            arguments = tuple(
                (arg, w)
                for arg, definition in field.args.items()
                if (w := _weight(definition.ast_node, cost_name)) is not None
            )
            list_size = None
            for directive in (node.directives or ()) if node is not None else ():
                if directive.name.value in list_size_names:
                    list_size = _read_list_size(directive, field)
            if weight is not None or list_size is not None or arguments:
                found[(type_name, field_name)] = FieldCost(weight, list_size, arguments)
    return found


def _weight(node: Any, cost_name: str) -> int | None:
    for directive in getattr(node, "directives", None) or ():
        if directive.name.value == cost_name:
            for argument in directive.arguments or ():
                if argument.name.value == "weight" and isinstance(argument.value, IntValueNode):
                    return int(argument.value.value)
    return None


def _read_list_size(directive: DirectiveNode, field: GraphQLField) -> ListSize:
    assumed: int | None = None
    slicing: tuple[str, ...] = ()
    sized: frozenset[str] = frozenset()
    require_one = True
    for argument in directive.arguments or ():
        name, value = argument.name.value, argument.value
        if name == "assumedSize" and isinstance(value, IntValueNode):
            assumed = int(value.value)
        elif name in ("slicingArguments", "sizedFields") and isinstance(value, ListValueNode):
            names = tuple(v.value for v in value.values if isinstance(v, StringValueNode))
            if name == "slicingArguments":
                slicing = names
            else:
                sized = frozenset(names)
        elif name == "requireOneSlicingArgument" and isinstance(value, BooleanValueNode):
            require_one = value.value
    defaults: list[tuple[str, int]] = []
    for arg in slicing:
        definition = field.args.get(arg)
        node = definition.ast_node if definition is not None else None
        default = node.default_value if node is not None else None
        if isinstance(default, IntValueNode):
            defaults.append((arg, int(default.value)))
    return ListSize(assumed, slicing, sized, require_one, tuple(defaults))
