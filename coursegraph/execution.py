"""Field execution for every subgraph: what graphql-core and Strawberry do per field, done
once per schema where the answer cannot differ between fields or requests.

A catalog page is ~280 fields, ~200 of them scalars read straight off an object (`title`,
`price.amount`, …). For each, graphql-core builds a path entry and a resolve info, calls
Strawberry's wrapper (three calls down to `getattr`) and completes the value through
`complete_value`'s recursion: ~10 % of the page's CPU went to that machinery alone
(docs/benchmarks-log.md, "Subgraph execution per field").

- `plain_fields` marks, when the schema is built, every field Strawberry itself resolves
  with a bare `getattr` (no resolver, no extension or permission, no exception handler,
  no arguments) and that returns a scalar, an enum or an object type without `is_type_of`;
  and gives every field whose resolver takes no GraphQL argument (only `self`, `root`,
  `parent`, `info`) and has no extension, permission or exception handler a
  `DirectResolver`: the resolver called as Strawberry's wrapper would call it, without
  the wrapper's argument conversion and extension chain;
- `SubgraphExecution` answers plain fields with `getattr` and, for a scalar, the type's own
  coercion, for an object, its sub-selection executed at once: the same value and, on any
  failure, the same error at the same path as graphql-core's `execute_field` (its
  `handle_field_error`); everything else goes through graphql-core;
- `resolve_types_by_class` answers a union's type resolution (`_entities` items) from the
  Python class once Strawberry has answered it for that class.

graphql-core's executor keeps two of its own bound methods (`async_helpers`): a reference
cycle through which each request's context, loaders, rows and futures (50-230 objects per
subgraph call) were left to the cyclic collector, whose young collections then freed ~20,000
objects at a time in one pause. `SubgraphExecution` holds them through a weak reference, so
a request's objects are freed when it ends.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Final

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLResolveInfoHelpers,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    Undefined,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.execution.executor import collect_iterator_awaitables
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
    """The resolver of a plain scalar or object field: `getattr(source, name)`, as
    Strawberry's basic field does; `SubgraphExecution` recognises it and skips the
    per-field machinery. Exactly one of `leaf` and `object` is set."""

    __slots__ = ("_is_default", "leaf", "name", "non_null", "object")

    def __init__(
        self,
        name: str,
        leaf: GraphQLScalarType | GraphQLEnumType | None,
        object: GraphQLObjectType | None,
        non_null: bool,
    ):
        self.name = name
        self.leaf = leaf
        self.object = object
        self.non_null = non_null
        # Strawberry's mark of a resolver it wrote (read by its tracing extensions).
        self._is_default = True

    def __call__(self, source: Any, info: GraphQLResolveInfo, **kwargs: Any) -> Any:
        return getattr(source, self.name)


class DirectResolver:
    """A resolver that takes no GraphQL argument, called as Strawberry's `_resolver` /
    `_async_resolver` call it once their argument conversion (none) and extension chain
    (empty) are done: the source as `self` and/or `root`/`parent`, Strawberry's `Info` as
    `info`. A sync resolver's value or awaitable, an async resolver's coroutine and any
    exception reach graphql-core as they did through the wrapper."""

    __slots__ = ("_is_default", "field", "function", "info_class", "info_name", "sources", "this")

    def __init__(self, field: StrawberryField, function: Callable[..., Any], info_class: type):
        resolver = field.base_resolver
        assert resolver is not None
        self.field = field
        self.function = function
        self.info_class = info_class
        self.this = resolver.self_parameter is not None
        self.sources = tuple(
            parameter.name
            for parameter in (resolver.parent_parameter, resolver.root_parameter)
            if parameter is not None
        )
        info = resolver.info_parameter
        self.info_name = None if info is None else info.name
        self._is_default = False  # as Strawberry marks a field with a resolver

    def __call__(self, source: Any, info: GraphQLResolveInfo, **kwargs: Any) -> Any:
        named = dict.fromkeys(self.sources, source)
        if self.info_name is not None:
            named[self.info_name] = self.info_class(_raw_info=info, _field=self.field)
        if self.this:
            return self.function(source, **named)
        return self.function(**named)


def plain_fields(schema: GraphQLSchema) -> None:
    """Gives every plain field of the schema a `PlainAttribute` resolver and every resolver
    without arguments a `DirectResolver`. Run before anything wraps resolvers (the access
    directives' guards), so a guarded field keeps the general path."""
    strawberry_schema = getattr(schema, "_strawberry_schema", None)
    converter = getattr(strawberry_schema, "schema_converter", None)
    # With exception handlers declared, every resolver keeps Strawberry's wrapper.
    direct = converter is not None and not getattr(converter, "_exception_handler_specs", True)
    info_class = (
        strawberry_schema.config.info_class if direct and strawberry_schema is not None else None
    )
    for gtype in schema.type_map.values():
        if not isinstance(gtype, GraphQLObjectType) or gtype.name.startswith("__"):
            continue
        for gfield in gtype.fields.values():
            resolve: PlainAttribute | DirectResolver | None = _plain(gfield)
            if resolve is None and info_class is not None and gtype is not schema.subscription_type:
                resolve = _direct(gfield, info_class)
            if resolve is not None:
                gfield.resolve = resolve


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
    inner = returned.of_type if isinstance(returned, GraphQLNonNull) else returned
    if isinstance(inner, GraphQLScalarType | GraphQLEnumType):
        return PlainAttribute(field.python_name, inner, None, non_null)
    if isinstance(inner, GraphQLObjectType) and inner.is_type_of is None:
        return PlainAttribute(field.python_name, None, inner, non_null)
    return None  # lists and abstract types keep graphql-core's completion


# The names of the functions Strawberry installs for a field with a resolver.
_STRAWBERRY_RESOLVERS: Final = frozenset({"_resolver", "_async_resolver"})


def _direct(gfield: GraphQLField, info_class: type) -> DirectResolver | None:
    field = (gfield.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if (
        not isinstance(field, StrawberryField)
        or getattr(gfield.resolve, "__name__", None) not in _STRAWBERRY_RESOLVERS
        or field.base_resolver is None
        or field.extensions
        or field.arguments
        or gfield.args
        or field.is_subscription
    ):
        return None
    resolver = field.base_resolver
    function = resolver.wrapped_func
    if not callable(function):
        return None  # Strawberry raises its own error on each call
    if resolver.is_async and not inspect.iscoroutinefunction(function):
        return None  # an async generator: Strawberry's wrapper awaits it into a value
    return DirectResolver(field, function, info_class)


def _weak_helpers(executor: StrawberryGraphQLCoreExecutionContext) -> GraphQLResolveInfoHelpers:
    """The executor's `async_helpers` without a strong reference back to it (see the module
    docstring). A resolver reaches them only while the executor runs, so it is alive."""
    ref = weakref.ref(executor)

    def gather(values: Sequence[Awaitable[Any]]) -> Awaitable[list[Any]]:
        return _alive(ref).gather_async_work(values)

    def track(values: Sequence[Any]) -> None:
        _alive(ref).track_async_work(values)

    return GraphQLResolveInfoHelpers(gather=gather, track=track)


def _alive(
    ref: weakref.ref[StrawberryGraphQLCoreExecutionContext],
) -> StrawberryGraphQLCoreExecutionContext:
    executor = ref()
    if executor is None:
        raise RuntimeError("GraphQL execution helpers used after the execution ended")
    return executor


class SubgraphExecution(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context, with plain scalar fields and `__typename` answered
    without a path entry, a resolve info or the completion recursion, and plain object
    fields without a resolve info or the completion recursion. Without middleware
    only: a Strawberry extension with a `resolve` hook sees every field through graphql-core."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.middleware_manager
        self._direct = manager is None or not manager.middlewares
        self.async_helpers = _weak_helpers(self)

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
        """graphql-core's `execute_field` and `complete_value` for a scalar or an object
        read by `getattr`: each check in its order, each failure reported as it reports it
        (a scalar field's path is built only then)."""
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
            if plain.leaf is not None:
                return self.complete_leaf_value(plain.leaf, result)
            assert plain.object is not None
            # `complete_object_value` without `is_type_of` (none on this type).
            path = Path(parent_path, response_name, parent_type.name)
            completed = self.collect_and_execute_subfields(
                plain.object, field_details_list, path, result, position_context
            )
            if type(completed) is dict or not self.is_awaitable(completed):
                return completed
            field_def = self.schema.get_field(parent_type, field_details_list[0].node.name.value)
            assert field_def is not None
            return self._await_completed(completed, field_def.type, field_details_list, path)
        except Exception as raw_error:
            field_def = self.schema.get_field(parent_type, field_details_list[0].node.name.value)
            assert field_def is not None
            path = Path(parent_path, response_name, parent_type.name)
            self.handle_field_error(raw_error, field_def.type, field_details_list, path)
            return None

    def complete_iterable_value(
        self,
        item_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo,
        path: Path,
        items: Iterable[Any],
        position_context: Any,
    ) -> Any:
        """graphql-core's `complete_iterable_value` (3.3) for a list of objects without
        `is_type_of`, not streamed: an item that is an object has its sub-selection executed
        at once (what `complete_list_item_value` comes to through `complete_value`); any
        other item (null, an exception, an awaitable) goes through graphql-core's own."""
        inner = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if (
            not self._direct
            or not isinstance(inner, GraphQLObjectType)
            or inner.is_type_of is not None
            or self.get_stream_usage(field_details_list, path) is not None
        ):
            return super().complete_iterable_value(
                item_type, field_details_list, info, path, items, position_context
            )
        is_awaitable = self.is_awaitable
        execute_subfields = self.collect_and_execute_subfields
        completed_results: list[Any] = []
        append_completed = completed_results.append
        awaitable_indices: list[int] = []
        iterator = iter(items)
        try:
            for index, item in enumerate(iterator):
                item_path = path.add_key(index, None)
                if item is None or item is Undefined or isinstance(item, Exception):
                    # graphql-core's own completion nulls or reports it (never awaitable).
                    self.complete_list_item_value(
                        item,
                        completed_results,
                        item_type,
                        field_details_list,
                        info,
                        item_path,
                        position_context,
                    )
                    continue
                if is_awaitable(item):
                    append_completed(
                        self.complete_awaitable_list_item_value(
                            item, item_type, field_details_list, info, item_path, position_context
                        )
                    )
                    awaitable_indices.append(index)
                    continue
                try:
                    completed = execute_subfields(
                        inner, field_details_list, item_path, item, position_context
                    )
                except Exception as raw_error:
                    self.handle_field_error(raw_error, item_type, field_details_list, item_path)
                    append_completed(None)
                    continue
                if type(completed) is not dict and is_awaitable(completed):
                    append_completed(
                        self._await_completed(completed, item_type, field_details_list, item_path)
                    )
                    awaitable_indices.append(index)
                else:
                    append_completed(completed)
        except Exception:
            # As graphql-core: settle the awaitables collected and those left in the list.
            pending = [completed_results[index] for index in awaitable_indices]
            pending.extend(collect_iterator_awaitables(iterator, is_awaitable))
            if pending:
                self.settle_in_background(pending)
            raise
        if not awaitable_indices:
            return completed_results

        async def get_completed_results() -> list[Any]:
            if len(awaitable_indices) == 1:
                index = awaitable_indices[0]
                completed_results[index] = await completed_results[index]
            else:
                awaited = await gather_with_cancel(
                    *(completed_results[index] for index in awaitable_indices)
                )
                for index, result in zip(awaitable_indices, awaited, strict=True):
                    completed_results[index] = result
            return completed_results

        return get_completed_results()

    async def _await_completed(
        self,
        completed: Awaitable[Any],
        return_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        path: Path,
    ) -> Any:
        """`execute_field`'s and `complete_list_item_value`'s `await_completed`: a failure
        while the sub-selection is awaited is the field's (item's) error, at its path."""
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
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


__all__ = [
    "DirectResolver",
    "PlainAttribute",
    "SubgraphExecution",
    "plain_fields",
    "resolve_types_by_class",
]
