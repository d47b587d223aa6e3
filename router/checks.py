"""The operation pipeline's plug point: what an operation check may do, and when.

The core prepares, plans and executes operations; the checks it is given (built in
`router/edge/`, ordered in `router/edge/pipeline.py` only) decide what is refused, what
an operation costs and what a viewer may see. The core knows no check by name.

Hooks, in the order the pipeline calls them (a check overrides those it needs; the
pipeline calls only overridden ones, so a check costs nothing in the other phases):

- `prepare(operation)`: once per distinct operation, after validation, cached with it.
  Raise `OperationError` to refuse it (the refusal is cached too); what it returns is the
  check's note about the operation, handed back to its later hooks.
- `cost(operation, note, variables)`: per request, with the coerced variables: the
  operation's estimated cost by this check's measure (the pipeline adds them up, and the
  edge's rate limiting reads the sum); may refuse.
- `restriction(operation, note, viewer)`: per request, before planning: what to take out
  of the operation for this viewer, or None. Plans are cached per restriction, so equal
  restrictions must compare and hash equal.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

from graphql import FragmentDefinitionNode, GraphQLSchema, OperationDefinitionNode

from coursegraph.identity import Viewer
from router.config import RouterConfig
from router.prepared import PreparedOperation, Restricted
from router.supergraph import Supergraph

Note = TypeVar("Note")


class Restriction(Protocol):
    """Fields to take out of an operation for one request (hashable: a plan cache key)."""

    def apply(
        self, operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]
    ) -> Restricted: ...


class OperationCheck(ABC, Generic[Note]):
    @abstractmethod
    def prepare(self, operation: PreparedOperation) -> Note: ...

    def cost(self, operation: PreparedOperation, note: Note, variables: Mapping[str, Any]) -> int:
        return 0

    def restriction(
        self, operation: PreparedOperation, note: Note, viewer: Viewer | None
    ) -> Restriction | None:
        return None


def overrides(check: OperationCheck[Any], hook: str) -> bool:
    return getattr(type(check), hook) is not getattr(OperationCheck, hook)


# The checks of one schema state, in their order: built again for each supergraph (a hot
# reload), from it, its API schema and the router config it comes with.
CheckFactory = Callable[[Supergraph, GraphQLSchema, RouterConfig], Sequence[OperationCheck[Any]]]
