"""Strawberry federation set-up shared by every subgraph.

- one pinned Federation version that Apollo's and The Guild's composers both accept;
- parser and validation caches (router-generated subgraph queries repeat);
- input hygiene (`coursegraph.input_hygiene`) and a strict `Decimal`, for every argument;
- error formatting that maps domain errors to the contract's `extensions.code` and
  never lets an internal error's text reach a client;
- internal fields: `@internal(services: [...])` (composed) plus `@inaccessible`, and the
  permission that enforces the HMAC signature — one declaration, so the marker and the
  enforcement cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any, Final

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.permission import BasePermission
from strawberry.schema_directive import Location
from strawberry.types import Info

from coursegraph.errors import DomainError, ErrorCode, Forbidden, Unauthenticated
from coursegraph.graphql_types import DECIMAL_SCALAR
from coursegraph.input_hygiene import InputHygiene
from coursegraph.log import get_logger

FEDERATION_VERSION: Final = "2.7"
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
        scalar_overrides={Decimal: DECIMAL_SCALAR},
        extensions=[
            lambda: ParserCache(maxsize=1000),
            lambda: ValidationCache(maxsize=1000),
            InputHygiene,
        ],
    )
