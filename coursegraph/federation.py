"""Strawberry federation set-up shared by every subgraph.

- one pinned Federation version that Apollo's and The Guild's composers both accept;
- parser and validation caches (router-generated subgraph queries repeat);
- input hygiene (`coursegraph.input_hygiene`) and a strict `Decimal`, for every argument;
- error formatting that maps domain errors to the contract's `extensions.code` and
  never lets an internal error's text reach a client;
- internal fields: `@internal(services: [...])` (composed) plus `@inaccessible`, and the
  permission that enforces the HMAC signature — one declaration, so the marker and the
  enforcement cannot drift;
- `@authenticated` / `@requiresScopes` enforced where they are declared, worded as the
  router words its refusals;
- operation limits for every caller, signed router or not (defence in depth behind the
  router's demand control): depth, aliases and tokens as validation rules (cached with
  the validation cache, so nearly free), the static cost estimate before execution (the
  router's, over the subgraph's own `@listSize`; `_entities` counts its representations),
  and a cap on objects in a result;
- plain scalar fields and union members answered without graphql-core's per-field
  machinery (`coursegraph.execution`), the same values and errors.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, cast
from weakref import WeakKeyDictionary

import strawberry
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLFieldResolver,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    ListValueNode,
    OperationDefinitionNode,
    VariableNode,
    build_ast_schema,
    default_field_resolver,
    get_operation_ast,
    parse,
)
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter, SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.federation.schema import FederationAny
from strawberry.federation.schema_directives import Authenticated, Key, RequiresScopes
from strawberry.permission import BasePermission
from strawberry.schema.schema import StreamResult
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.schema_directive import Location
from strawberry.types import ExecutionContext as StrawberryExecutionContext
from strawberry.types import ExecutionResult as StrawberryExecutionResult
from strawberry.types import Info
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.utils.aio import aclosing
from strawberry.utils.inspect import get_func_args

from coursegraph.cache_control import CacheControl, CacheHints, PolicyCache
from coursegraph.cost import CostQueryError, CostWalk, FieldCost, field_costs
from coursegraph.errors import BadUserInput, DomainError, ErrorCode, Forbidden, Unauthenticated
from coursegraph.execution import SubgraphExecution, plain_fields, resolve_types_by_class
from coursegraph.graphql_types import DECIMAL_SCALAR
from coursegraph.identity import access_refusal, scopes_requirement
from coursegraph.input_hygiene import InputHygiene
from coursegraph.limits import (
    DEFAULT_LIST_SIZE,
    MAX_ALIASES,
    MAX_COST,
    MAX_DEPTH,
    MAX_RESULT_OBJECTS,
    MAX_TOKENS,
    count_objects,
)
from coursegraph.log import get_logger
from coursegraph.operation_pipeline import OperationPipeline, PipelineRunner, PreparedOperations

# 2.9: the first version with the demand control directives (@cost, @listSize), and the
# newest The Guild's composer accepts (2.11, Strawberry's default, is refused).
FEDERATION_VERSION: Final = "2.9"
INTERNAL_DIRECTIVE_URL = "https://coursegraph.dev/internal/v1.0"
# Where Strawberry keeps its own field definition (and so the field's directives).
DEFINITION_BACKREF: Final = GraphQLCoreConverter.DEFINITION_BACKREF

log = get_logger("coursegraph.graphql")


# ------------------------------------------------------------------ errors
def format_error(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, DomainError):
        return GraphQLError(
            original.message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={**original.extensions, "code": str(original.code)},
        )
    if error.extensions and "code" in error.extensions:
        return error
    if error.path is None:
        # Raised before execution: syntax, validation or variable coercion. Its text
        # describes the client's document, not our internals.
        code = _limit_code(error.message)
        if code is None:
            if error.message.startswith("Syntax Error"):
                code = "GRAPHQL_PARSE_FAILED"
            elif error.message.startswith("Variable "):
                code = ErrorCode.BAD_USER_INPUT
            else:
                code = "GRAPHQL_VALIDATION_FAILED"
        return GraphQLError(
            error.message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            extensions={**(error.extensions or {}), "code": str(code)},
        )
    if original is None:
        # A GraphQL-level execution error (e.g. a non-null field resolved to null).
        return GraphQLError(
            error.message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": str(ErrorCode.INTERNAL_SERVER_ERROR)},
        )
    log.error("unexpected error in resolver", path=error.path, exc_info=original)
    return GraphQLError(
        "Internal server error.",
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={"code": str(ErrorCode.INTERNAL_SERVER_ERROR)},
    )


def _limit_code(message: str) -> str | None:
    """The code of a refusal by one of the operation limits (the same codes as the
    router's), recognised by the messages Strawberry's limiters and graphql-core write."""
    if "exceeds maximum operation depth" in message:
        return "MAX_DEPTH_LIMIT"
    if "aliases found. Allowed:" in message:
        return "MAX_ALIASES_LIMIT"
    if message.startswith("Syntax Error: Document contains more than"):
        return "MAX_TOKENS_LIMIT"
    return None


def format_errors(errors: list[GraphQLError] | None) -> list[GraphQLError] | None:
    """Every error a client sees, with a contract code and nothing internal."""
    return [format_error(e) for e in errors] if errors else errors


# ------------------------------------------------------------------ internal fields
@strawberry.federation.schema_directive(
    locations=[Location.FIELD_DEFINITION],
    name="internal",
    compose=True,
    import_url=INTERNAL_DIRECTIVE_URL,
    description="Called service to service only, with an HMAC signature from a listed service.",
)
class Internal:
    services: list[str]


def _internal_permission(services: Sequence[str]) -> type[BasePermission]:
    allowed = frozenset(services)

    class InternalServiceOnly(BasePermission):
        message = "This field is only for internal services."
        _schema_directive = Internal(services=sorted(allowed))

        def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
            context = info.context
            if context.service is None:
                raise Unauthenticated("A service signature is required.")
            if context.service not in allowed:
                raise Forbidden(f"Service {context.service!r} may not call this field.")
            return True

    return InternalServiceOnly


def internal_field(
    resolver: Callable[..., Any], *, services: Sequence[str], description: str | None = None
) -> Any:
    """A field for `services` only: hidden from the API schema, HMAC enforced."""
    permission = _internal_permission(services)
    return strawberry.federation.field(
        resolver=resolver,
        inaccessible=True,
        # Printed at schema build time; the permission would add it only when applied.
        directives=[permission._schema_directive],
        permission_classes=[permission],
        description=description,
    )


# ------------------------------------------------------------------ access directives
def _guard(
    resolve: GraphQLFieldResolver, coordinate: str, scopes: Sequence[Sequence[frozenset[str]]]
) -> GraphQLFieldResolver:
    wanted = [scopes_requirement(alternatives) for alternatives in scopes]
    unauthenticated = access_refusal(coordinate, signed_in=False, requirements=wanted)
    forbidden = access_refusal(coordinate, signed_in=True, requirements=wanted)

    def guarded(source: Any, info: GraphQLResolveInfo, **kwargs: Any) -> Any:
        viewer = info.context.viewer  # a bad token raises its own UNAUTHENTICATED
        if viewer is None:
            raise Unauthenticated(unauthenticated)
        if not all(any(n <= viewer.scopes for n in alts) for alts in scopes):
            raise Forbidden(forbidden)
        return resolve(source, info, **kwargs)

    return guarded


def _enforce_access_directives(schema: GraphQLSchema) -> None:
    """Every field marked `@authenticated` or `@requiresScopes` refuses, before its resolver
    runs, a request without a viewer or the scopes, in the router's words: the subgraph
    keeps the rule behind any router, and the marker is the enforcement."""
    for gtype in schema.type_map.values():
        if not isinstance(gtype, GraphQLObjectType) or gtype.name.startswith("__"):
            continue
        for name, gfield in gtype.fields.items():
            definition = (gfield.extensions or {}).get(DEFINITION_BACKREF)
            directives = getattr(definition, "directives", None) or ()
            marked = any(isinstance(d, Authenticated | RequiresScopes) for d in directives)
            if not marked:
                continue
            scopes = [
                tuple(frozenset(needed) for needed in d.scopes)
                for d in directives
                if isinstance(d, RequiresScopes)
            ]
            resolve = gfield.resolve or default_field_resolver
            gfield.resolve = _guard(resolve, f"{gtype.name}.{name}", scopes)
            if gfield.subscribe is not None:
                # A subscription is refused when it starts (an `error` message), not at
                # its first event.
                gfield.subscribe = _guard(gfield.subscribe, f"{gtype.name}.{name}", scopes)


# ------------------------------------------------------------------ limits
class CostLimiter(SchemaExtension):
    """Refuses, before anything is resolved, an operation whose estimated cost is over
    `max_cost` (COST_ESTIMATED_TOO_EXPENSIVE; a field that needs one slicing argument and
    got none or several: COST_QUERY_PARSE_FAILURE)."""

    def __init__(self, max_cost: int) -> None:
        self.max_cost = max_cost

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            error = self._refusal(document, context)
            if error is not None:
                # A result set before execution is returned as it is: nothing is resolved.
                context.result = ExecutionResult(data=None, errors=[error])
        yield

    def _refusal(self, document: DocumentNode, context: Any) -> GraphQLError | None:
        operation = get_operation_ast(document, context.operation_name)
        if operation is None:
            return None
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        walk = CostWalk(
            _field_costs(context.schema),
            DEFAULT_LIST_SIZE,
            context.schema._schema,
            fragments,
            operation,
            context.variables or {},
            _entities_size,
        )
        try:
            cost = walk.run()
        except CostQueryError as exc:
            return GraphQLError(exc.message, extensions={"code": exc.code})
        if cost <= self.max_cost:
            return None
        return GraphQLError(
            f"The operation's estimated cost is {cost}; the limit is {self.max_cost}.",
            extensions={"code": "COST_ESTIMATED_TOO_EXPENSIVE"},
        )


_COSTS: WeakKeyDictionary[Any, Mapping[tuple[str, str], FieldCost]] = WeakKeyDictionary()


def _field_costs(schema: Any) -> Mapping[tuple[str, str], FieldCost]:
    """The schema's @cost/@listSize, read once from its printed SDL (Strawberry's runtime
    schema keeps no directive AST)."""
    costs = _COSTS.get(schema)
    if costs is None:
        sdl_schema = build_ast_schema(parse(schema.as_str()), assume_valid_sdl=True)
        costs = _COSTS[schema] = field_costs(sdl_schema)
    return costs


def _entities_size(node: FieldNode, walk: CostWalk) -> int | None:
    """`_entities` returns one item per representation sent."""
    if node.name.value != "_entities":
        return None
    for argument in node.arguments or ():
        if argument.name.value != "representations":
            continue
        value = argument.value
        if isinstance(value, ListValueNode):
            return len(value.values)
        if isinstance(value, VariableNode) and walk.variables is not None:
            sent = walk.variables.get(value.name.value)
            if isinstance(sent, list):
                return len(sent)
    return None


class ResultSizeLimiter(SchemaExtension):
    """Refuses a result with more than `max_objects` objects: its data is dropped and one
    RESULT_TOO_LARGE error answers instead, so a huge fan-out is never serialised and sent.
    The work before it is bounded by the cost estimate (CostLimiter, from each list's
    declared `@listSize`); this catches lists without a declared size."""

    def __init__(self, max_objects: int) -> None:
        self.max_objects = max_objects

    def on_execute(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if not isinstance(result, ExecutionResult) or result.data is None:
            return
        count = count_objects(list(result.data.values()), self.max_objects)
        if count > self.max_objects:
            result.data = None
            result.errors = [
                GraphQLError(
                    f"The result has more than {self.max_objects} objects; ask for fewer "
                    "items (smaller `first`) or fewer nested lists.",
                    extensions={"code": "RESULT_TOO_LARGE"},
                )
            ]


# Built once: each limiter instance makes new rule classes.
LIMIT_RULES = (
    *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
)


# ------------------------------------------------------------------ schema
class SubgraphSchema(strawberry.federation.Schema):
    """Strawberry's federation schema, with `_entities` refusing a malformed representation
    (not an object, unknown `__typename`, a key missing, a field `resolve_reference` does
    not take) as BAD_USER_INPUT at its own path instead of failing inside."""

    # Strawberry builds the `_entities` field from this signature: keep its types.
    def entities_resolver(
        self, info: Info, representations: list[FederationAny]
    ) -> list[FederationAny]:
        problems = [self._representation_problem(r) for r in representations]
        valid = [r for r, problem in zip(representations, problems, strict=True) if not problem]
        resolved = iter(self._resolve_references(info, valid))
        items = [cast(FederationAny, problem) or next(resolved) for problem in problems]
        if any(inspect.isawaitable(item) for item in items):
            # One awaitable for the list instead of one task per item from graphql-core;
            # the loads were registered as the references were resolved, so they batch.
            return cast(list[FederationAny], _gathered(items))
        return items

    def create_extensions_runner(
        self, execution_context: StrawberryExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        """The pipeline's phases called directly (`PipelineRunner`) when it is the only
        extension, as `build_schema` makes it."""
        if len(extensions) == 1 and isinstance(extensions[0], OperationPipeline):
            return PipelineRunner(execution_context, extensions[0])
        return super().create_extensions_runner(execution_context, extensions)

    async def stream(self, *args: Any, **kwargs: Any) -> StreamResult:
        """Subscription results (WebSocket) get the same error formatting as HTTP answers
        (`format_errors`): the contract's codes, no internal text."""
        return _formatted(await super().stream(*args, **kwargs))

    def _resolve_references(self, info: Info, representations: list[Any]) -> list[Any]:
        """Strawberry's `entities_resolver` for types with a `resolve_reference`, with
        what it works out for every representation (the type, the method's signature)
        worked out once per type: the same calls and results, a fraction of the CPU on a
        page's 20 references. A type without the method goes through Strawberry's."""
        references: list[tuple[Callable[..., Any], bool]] = []
        for representation in representations:
            entity = self._entity(representation["__typename"])
            if entity is None or entity.resolve_reference is None:
                return super().entities_resolver(info, representations)
            references.append((entity.resolve_reference, entity.takes_info))
        results: list[Any] = []
        for representation, (resolve_reference, takes_info) in zip(
            representations, references, strict=True
        ):
            # A new dict, not the representation itself (Strawberry's way): the info in it
            # would close a reference cycle through the operation's variables.
            kwargs = {key: value for key, value in representation.items() if key != "__typename"}
            if takes_info:
                kwargs["info"] = info
            try:
                result = resolve_reference(**kwargs)
            except Exception as error:  # reported at the item's path
                result = error
            results.append(result)
        return results

    def _representation_problem(self, representation: Any) -> BadUserInput | None:
        if not isinstance(representation, dict):
            return BadUserInput("An entity representation must be an object.")
        type_name = representation.get("__typename")
        entity = self._entity(type_name) if isinstance(type_name, str) else None
        if entity is None or not entity.keys:
            return BadUserInput(f"{type_name!r} is not an entity of this subgraph.")
        present = {name for name, value in representation.items() if value is not None}
        keys, needed = entity.keys, entity.needed
        if not any(key <= present for key in keys) or not needed <= present:
            missing = sorted((min(keys, key=len) | needed) - present)
            return BadUserInput(f"The {type_name} representation lacks {', '.join(missing)}.")
        unknown = sorted(representation.keys() - {"__typename"} - (entity.accepted or present))
        if unknown:
            return BadUserInput(f"The {type_name} representation has no {', '.join(unknown)}.")
        return None

    def _entity(self, type_name: str) -> _Entity | None:
        """What `_entities` needs to know of an object type of this schema (None: no such
        object type), looked up once per type."""
        entities: dict[str, _Entity | None] = self.__dict__.setdefault("_entity_cache", {})
        if type_name not in entities:
            entities[type_name] = _entity_of(self.schema_converter.type_map.get(type_name))
        return entities[type_name]


@dataclass(frozen=True, slots=True)
class _Entity:
    # The top-level fields of each `@key` (none: not an entity of this subgraph).
    keys: tuple[frozenset[str], ...]
    # The representation fields `resolve_reference` needs, and those it takes (None: any).
    needed: frozenset[str]
    accepted: frozenset[str] | None
    resolve_reference: Callable[..., Any] | None
    # Whether `resolve_reference` takes `info` (Strawberry passes it by that name).
    takes_info: bool


def _entity_of(known: Any) -> _Entity | None:
    definition = getattr(known, "definition", None)
    if not isinstance(definition, StrawberryObjectDefinition):
        return None
    keys = tuple(
        _top_level_fields(d.fields) for d in definition.directives or () if isinstance(d, Key)
    )
    resolve = getattr(definition.origin, "resolve_reference", None)
    needed, accepted = _arguments(resolve) if resolve is not None else (frozenset(), None)
    return _Entity(
        keys=keys,
        needed=needed,
        accepted=accepted,
        resolve_reference=resolve,
        takes_info=resolve is not None and "info" in get_func_args(resolve),
    )


async def _formatted(results: StreamResult) -> StreamResult:
    async with aclosing(results):
        async for result in results:
            if isinstance(result, StrawberryExecutionResult):
                result.errors = format_errors(result.errors)
            yield result


async def _gathered(items: list[Any]) -> list[Any]:
    """Every item, the awaitable ones awaited together; an item that failed is its
    exception, which graphql-core reports at that item's path as before."""
    pending = [n for n, item in enumerate(items) if inspect.isawaitable(item)]
    values = await asyncio.gather(*(items[n] for n in pending), return_exceptions=True)
    out = list(items)
    for n, value in zip(pending, values, strict=True):
        if isinstance(value, BaseException) and not isinstance(value, Exception):
            raise value  # cancellation is not an item's error
        out[n] = value
    return out


@functools.cache
def _top_level_fields(field_set: str) -> frozenset[str]:
    """The top-level field names of a `@key(fields:)` selection: "id", "sku package { id }"."""
    operation = parse(f"{{ {field_set} }}").definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    return frozenset(
        s.name.value for s in operation.selection_set.selections if isinstance(s, FieldNode)
    )


@functools.cache
def _arguments(
    resolve_reference: Callable[..., Any],
) -> tuple[frozenset[str], frozenset[str] | None]:
    """The representation fields a `resolve_reference` needs, and those it takes (None: any)."""
    parameters = [
        p for name, p in inspect.signature(resolve_reference).parameters.items() if name != "info"
    ]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        taken = None
    else:
        taken = frozenset(p.name for p in parameters)
    needed = frozenset(
        p.name
        for p in parameters
        if p.default is inspect.Parameter.empty and p.kind is not inspect.Parameter.VAR_KEYWORD
    )
    return needed, taken


def build_schema(
    query: type,
    mutation: type | None = None,
    types: Iterable[type] = (),
    cache_hints: CacheHints | None = None,
    subscription: type | None = None,
) -> strawberry.federation.Schema:
    """`cache_hints`: what the router may cache of this subgraph's answers
    (coursegraph/cache_control.py); none: every answer is `no-store`."""
    policies: list[PolicyCache] = []
    prepared = PreparedOperations(MAX_TOKENS, LIMIT_RULES)
    # Around execution, outermost first. CacheControl first, so it sees the answer last
    # (after the limiters may have replaced it); its policies are built with the schema
    # below (hints checked against its types).
    stages: list[Callable[[], SchemaExtension]] = [
        lambda: CacheControl(policies[0]),
        lambda: CostLimiter(MAX_COST),
        lambda: ResultSizeLimiter(MAX_RESULT_OBJECTS),
        InputHygiene,
    ]
    schema = SubgraphSchema(
        query=query,
        mutation=mutation,
        subscription=subscription,
        types=list(types),
        federation_version=FEDERATION_VERSION,
        scalar_overrides={Decimal: DECIMAL_SCALAR},
        execution_context_class=SubgraphExecution,
        extensions=[
            # One extension (coursegraph/operation_pipeline.py): the token limit applies
            # when a text is first parsed; its document and its verdict under the depth and
            # alias rules are kept per text.
            lambda: OperationPipeline(prepared, stages),
        ],
    )
    # Before the guards of the access directives wrap resolvers: a guarded field is not plain.
    plain_fields(schema._schema)
    resolve_types_by_class(schema._schema)
    _enforce_access_directives(schema._schema)
    policies.append(PolicyCache(schema._schema, cache_hints or {}))
    return schema
