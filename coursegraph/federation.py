"""Strawberry federation set-up shared by every subgraph.

- one pinned Federation version that Apollo's and The Guild's composers both accept;
- parser and validation caches (router-generated subgraph queries repeat);
- error formatting that maps domain errors to the contract's `extensions.code` and
  never lets an internal error's text reach a client;
- internal fields: `@internal(services: [...])` (composed) plus `@inaccessible`, and the
  permission that enforces the HMAC signature — one declaration, so the marker and the
  enforcement cannot drift;
- operation limits for every caller, signed router or not (defence in depth behind the
  router's demand control): depth, aliases and tokens as validation rules (cached with
  the validation cache, so nearly free), and a cap on objects in a result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final

import strawberry
from graphql import ExecutionResult, GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.federation.schema_directives import ListSize
from strawberry.permission import BasePermission
from strawberry.schema_directive import Location
from strawberry.types import Info

from coursegraph.errors import DomainError, ErrorCode, Forbidden, Unauthenticated
from coursegraph.limits import (
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_RESULT_OBJECTS,
    MAX_TOKENS,
    count_objects,
)
from coursegraph.log import get_logger

# 2.9: the first version with the demand control directives (@cost, @listSize), and the
# newest The Guild's composer accepts (2.11, Strawberry's default, is refused).
FEDERATION_VERSION: Final = "2.9"
INTERNAL_DIRECTIVE_URL = "https://coursegraph.dev/internal/v1.0"

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
                raise Unauthenticated(context.service_error or "A service signature is required.")
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


# ------------------------------------------------------------------ demand control
def list_size(
    *, assumed: int | None = None, slicing: Sequence[str] = (), sized: Sequence[str] = ()
) -> ListSize:
    """`@listSize` (cost spec) for a list field, with only the arguments given (Strawberry
    would print the others as explicit nulls). `assumed` must be a size the subgraph
    enforces; `slicing` names arguments whose value the subgraph caps."""
    return ListSize(
        assumed_size=assumed if assumed is not None else strawberry.UNSET,
        slicing_arguments=list(slicing) if slicing else strawberry.UNSET,
        sized_fields=list(sized) if sized else strawberry.UNSET,
        require_one_slicing_argument=strawberry.UNSET,
    )


# ------------------------------------------------------------------ limits
class ResultSizeLimiter(SchemaExtension):
    """Refuses a result with more than `max_objects` objects: its data is dropped and one
    RESULT_TOO_LARGE error answers instead, so a huge fan-out is never serialised and sent.
    The work before it is bounded by the depth and alias limits and by each list field's
    server-side maximum (`first` arguments, declared `@listSize`)."""

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


# Built once: the validation cache keys on the rule classes, and each limiter instance
# makes new ones.
LIMIT_RULES = (
    *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
)


# ------------------------------------------------------------------ schema
def build_schema(
    query: type,
    mutation: type | None = None,
    types: Iterable[type] = (),
) -> strawberry.federation.Schema:
    return strawberry.federation.Schema(
        query=query,
        mutation=mutation,
        types=list(types),
        federation_version=FEDERATION_VERSION,
        extensions=[
            # The token limit is applied by the parser; a cached parse skips it, and the
            # validation cache keeps depth and alias verdicts with the document.
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            lambda: ParserCache(maxsize=1000),
            lambda: ValidationCache(maxsize=1000),
            lambda: AddValidationRules(list(LIMIT_RULES)),
            lambda: ResultSizeLimiter(MAX_RESULT_OBJECTS),
        ],
    )
