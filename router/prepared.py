"""An operation as the pipeline keeps it once parsed and validated, the plans made of it,
and how the pipeline refuses one (`OperationError`, answered with GraphQL errors)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
)

from router.planner.plan import Plan
from router.projection import CompiledObject
from router.types import JSONObject, PlanPath

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"


class OperationError(Exception):
    """The request cannot be executed; `errors` are GraphQL errors for the client."""

    def __init__(self, errors: list[dict[str, Any]], status: int = 400) -> None:
        super().__init__(errors[0]["message"] if errors else "bad request")
        self.errors = errors
        self.status = status

    @classmethod
    def of(cls, message: str, code: str, status: int = 400) -> OperationError:
        """One error with its `extensions.code`."""
        return cls([{"message": message, "extensions": {"code": code}}], status)


def error_dict(error: GraphQLError, code: str) -> dict[str, Any]:
    out = error.formatted
    out.setdefault("extensions", {})["code"] = code
    return dict(out)


class Restricted(Protocol):
    """An operation with fields taken out for one request (authorization: those the viewer
    may not see), and the errors that say so once the rest is executed."""

    @property
    def operation(self) -> OperationDefinitionNode: ...

    @property
    def fragments(self) -> dict[str, FragmentDefinitionNode]: ...

    def errors(self, data: JSONObject) -> list[JSONObject]: ...


@dataclass(frozen=True, slots=True)
class PlannedOperation:
    plan: Plan
    projection: CompiledObject
    # What checks took out of the operation before planning (answered null, with errors).
    restricted: tuple[Restricted, ...] = ()
    # With @defer: each deferred fragment's own fields per concrete type, by the key of its
    # block (`DeferredBlock.key`); the projection then leaves them out of the primary part.
    deferred: Mapping[tuple[PlanPath, int], Mapping[str, CompiledObject]] | None = None


@dataclass(slots=True)
class PreparedOperation:
    document: DocumentNode
    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDefinitionNode]
    kind: OperationType
    # The supergraph's root type the operation selects on (Query, Mutation).
    root_type: str
    condition_variables: tuple[str, ...]
    has_variables: bool
    # Whether a fragment carries @defer (then plans depend on the client's Accept too).
    has_defer: bool
    introspection: DocumentNode | None
    # Root field names (rate limiting's sensitive fields, e.g. login).
    root_fields: frozenset[str] = frozenset()
    # What each operation check's `prepare` returned, in the checks' order (checks.py).
    notes: tuple[Any, ...] = ()
    # Keyed by the @skip/@include flags, plus the checks' restrictions when there are any.
    plans: dict[tuple[Any, ...], PlannedOperation] = field(default_factory=dict)
