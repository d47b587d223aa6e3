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

import functools
import inspect
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any, Final, cast

import strawberry
from graphql import FieldNode, GraphQLError, OperationDefinitionNode, parse
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.federation.schema import FederationAny
from strawberry.federation.schema_directives import Key
from strawberry.permission import BasePermission
from strawberry.schema_directive import Location
from strawberry.types import Info
from strawberry.types.base import StrawberryObjectDefinition

from coursegraph.errors import BadUserInput, DomainError, ErrorCode, Forbidden, Unauthenticated
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
        resolved = iter(super().entities_resolver(info, valid))
        return [cast(FederationAny, problem) or next(resolved) for problem in problems]

    def _representation_problem(self, representation: Any) -> BadUserInput | None:
        if not isinstance(representation, dict):
            return BadUserInput("An entity representation must be an object.")
        type_name = representation.get("__typename")
        known = self.schema_converter.type_map.get(type_name) if type_name else None
        definition = getattr(known, "definition", None)
        if not isinstance(definition, StrawberryObjectDefinition):
            return BadUserInput(f"{type_name!r} is not an entity of this subgraph.")
        keys = [
            _top_level_fields(d.fields) for d in definition.directives or () if isinstance(d, Key)
        ]
        if not keys:
            return BadUserInput(f"{type_name!r} is not an entity of this subgraph.")
        present = {name for name, value in representation.items() if value is not None}
        resolve = getattr(definition.origin, "resolve_reference", None)
        needed, accepted = _arguments(resolve) if resolve is not None else (frozenset(), None)
        if not any(key <= present for key in keys) or not needed <= present:
            missing = sorted((min(keys, key=len) | needed) - present)
            return BadUserInput(f"The {type_name} representation lacks {', '.join(missing)}.")
        unknown = sorted(representation.keys() - {"__typename"} - (accepted or present))
        if unknown:
            return BadUserInput(f"The {type_name} representation has no {', '.join(unknown)}.")
        return None


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
) -> strawberry.federation.Schema:
    return SubgraphSchema(
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
