"""Field execution for every subgraph: what graphql-core and Strawberry do per field, done
once per schema where the answer cannot differ between fields or requests.

A catalog page is ~280 fields, ~200 of them scalars read straight off an object (`title`,
`price.amount`, …). For each, graphql-core builds a path entry and a resolve info, calls
Strawberry's wrapper (three calls down to `getattr`) and completes the value through
`complete_value`'s recursion: ~10 % of the page's CPU went to that machinery alone
(docs/benchmarks.md, "Subgraph execution per field").

- `plain_fields` marks, when the schema is built, every field Strawberry itself resolves
  with a bare `getattr` (no resolver, no extension or permission, no exception handler,
  no arguments) and that returns a scalar or an enum;
- `SubgraphExecution` answers those fields with `getattr` and the type's own coercion, the
  same value and, on any failure, the same error at the same path as graphql-core's
  `execute_field` (its `handle_field_error`); everything else goes through graphql-core;
- `resolve_types_by_class` answers a union's type resolution (`_entities` items) from the
  Python class once Strawberry has answered it for that class.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    Undefined,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.pyutils import Path, gather_with_cancel
from graphql.type.introspection import TypeNameMetaFieldDef
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.cast import TYPE_CAST_ATTRIBUTE
from strawberry.types.field import StrawberryField

# The name of the function Strawberry installs for a field it answers with `getattr` alone
# (`GraphQLCoreConverter.from_resolver`: no resolver, no extension, no exception handler).
_STRAWBERRY_BASIC = "_get_basic_result"


class PlainAttribute:
    """The resolver of a plain scalar field: `getattr(source, name)`, as Strawberry's basic
    field does; `SubgraphExecution` recognises it and skips the per-field machinery."""

    __slots__ = ("_is_default", "leaf", "name", "non_null")

    def __init__(self, name: str, leaf: GraphQLScalarType | GraphQLEnumType, non_null: bool):
        self.name = name
        self.leaf = leaf
        self.non_null = non_null
        # Strawberry's mark of a resolver it wrote (read by its tracing extensions).
        self._is_default = True

    def __call__(self, source: Any, info: GraphQLResolveInfo, **kwargs: Any) -> Any:
        return getattr(source, self.name)


def plain_fields(schema: GraphQLSchema) -> None:
    """Gives every plain scalar field of the schema a `PlainAttribute` resolver. Run before
    anything wraps resolvers (the access directives' guards), so a guarded field keeps
    the general path."""
    for gtype in schema.type_map.values():
        if not isinstance(gtype, GraphQLObjectType) or gtype.name.startswith("__"):
            continue
        for gfield in gtype.fields.values():
            plain = _plain(gfield)
            if plain is not None:
                gfield.resolve = plain


def _plain(gfield: GraphQLField) -> PlainAttribute | None:
    field = (gfield.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    resolve = gfield.resolve
    if (
        not isinstance(field, StrawberryField)
        or getattr(resolve, "__name__", None) != _STRAWBERRY_BASIC
        or not field.is_basic_field
        or field.default_resolver is not getattr
        or gfield.args
    ):
        return None
    returned = gfield.type
    non_null = isinstance(returned, GraphQLNonNull)
    leaf = returned.of_type if isinstance(returned, GraphQLNonNull) else returned
    if not isinstance(leaf, GraphQLScalarType | GraphQLEnumType):
        return None  # objects and lists keep graphql-core's completion
    return PlainAttribute(field.python_name, leaf, non_null)


class SubgraphExecution(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context, with plain scalar fields and `__typename` answered
    without a path entry, a resolve info or the completion recursion. Without middleware
    only: a Strawberry extension with a `resolve` hook sees every field through graphql-core."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.middleware_manager
        self._direct = manager is None or not manager.middlewares

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        """graphql-core's `execute_fields` (3.3), the plain fields answered in the loop."""
        if not self._direct:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        get_field = self.schema.get_field
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list in grouped_field_set.items():
                field_def = get_field(parent_type, field_details_list[0].node.name.value)
                resolve = field_def.resolve if field_def is not None else None
                if type(resolve) is PlainAttribute:
                    result = self._plain(
                        resolve,
                        parent_type,
                        source_value,
                        field_details_list,
                        path,
                        response_name,
                        position_context,
                    )
                elif field_def is TypeNameMetaFieldDef:
                    result = parent_type.name
                else:
                    result = self.execute_field(
                        parent_type,
                        source_value,
                        field_details_list,
                        Path(path, response_name, parent_type.name),
                        position_context,
                    )
                if result is not Undefined:
                    results[response_name] = result
                    if type(result) not in _COMPLETED and is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                # Settle the other fields' awaitables: they may fail too.
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                field = awaitable_fields[0]
                results[field] = await results[field]
            else:
                awaited = await gather_with_cancel(*(results[f] for f in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()

    def _plain(
        self,
        plain: PlainAttribute,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        parent_path: Path | None,
        response_name: str,
        position_context: Any,
    ) -> Any:
        """graphql-core's `execute_field` and `complete_value` for a scalar read by
        `getattr`: each check in its order, each failure reported as it reports it (the
        field's path is built only then)."""
        try:
            result = getattr(source, plain.name)
            if type(result) not in _COMPLETED and self.is_awaitable(result):
                # Never for a dataclass's value; awaited as graphql-core awaits it.
                path = Path(parent_path, response_name, parent_type.name)
                name = field_details_list[0].node.name.value
                field_def = self.schema.get_field(parent_type, name)
                assert field_def is not None
                nodes = [details.node for details in field_details_list]
                info = self.build_resolve_info(field_def, nodes, parent_type, path)
                return self.complete_awaitable_value(
                    field_def.type, field_details_list, info, path, result, position_context
                )
            if isinstance(result, Exception):
                raise result
            if result is None or result is Undefined:
                if plain.non_null:
                    raise TypeError(
                        "Cannot return null for non-nullable field"
                        f" {parent_type}.{field_details_list[0].node.name.value}."
                    )
                return None
            return self.complete_leaf_value(plain.leaf, result)
        except Exception as raw_error:
            field_def = self.schema.get_field(parent_type, field_details_list[0].node.name.value)
            assert field_def is not None
            path = Path(parent_path, response_name, parent_type.name)
            self.handle_field_error(raw_error, field_def.type, field_details_list, path)
            return None


# Values that are never awaitable (what graphql-core's check answers at once for them).
_COMPLETED: Final = frozenset({str, int, float, bool, dict, list})


TypeResolver = Callable[[Any, GraphQLResolveInfo, Any], Any]


def resolve_types_by_class(schema: GraphQLSchema) -> None:
    """Each union's `resolve_type` answers from the object's class what Strawberry answered
    for that class before. Only for an instance of a plain (not generic) Strawberry type,
    not cast (`strawberry.cast`): there Strawberry's answer depends on the class alone."""
    for gtype in schema.type_map.values():
        if isinstance(gtype, GraphQLUnionType) and gtype.resolve_type is not None:
            gtype.resolve_type = _by_class(gtype.resolve_type)


def _by_class(resolve: TypeResolver) -> TypeResolver:
    known: dict[type, Any] = {}

    def resolve_type(root: Any, info: GraphQLResolveInfo, abstract: Any) -> Any:
        cast = getattr(root, TYPE_CAST_ATTRIBUTE, None)
        if cast is None:
            name = known.get(type(root))
            if name is not None:
                return name
        name = resolve(root, info, abstract)
        if cast is None and isinstance(name, str) and _plain_instance(root):
            known[type(root)] = name
        return name

    return resolve_type


def _plain_instance(root: Any) -> bool:
    definition = getattr(type(root), "__strawberry_definition__", None)
    if not isinstance(definition, StrawberryObjectDefinition):
        return False
    own: StrawberryObjectDefinition = definition
    return (
        getattr(root, "__strawberry_definition__", None) is own
        and own.concrete_of is None
        and not own.is_graphql_generic
    )


__all__ = ["PlainAttribute", "SubgraphExecution", "plain_fields", "resolve_types_by_class"]
