"""The operation pipeline runs the checks it is handed (router/checks.py), knowing none of
them: in their order, once per operation, refusals cached, costs added up, and plans kept
per restriction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

from coursegraph.identity import Viewer
from router.api_schema import build_api_schema
from router.checks import OperationCheck
from router.operation import Operations
from router.prepared import OperationError, PreparedOperation
from router.supergraph import Supergraph
from router.types import JSONObject

SUPERGRAPH = Supergraph.from_file(Path(__file__).parent / "graphs" / "basic" / "supergraph.graphql")
QUERY = '{ me { id } review(id: "1") { id } }'


class Counting(OperationCheck[str]):
    """Notes its name; costs `cost` per request."""

    def __init__(self, name: str, calls: list[str], cost: int = 0) -> None:
        self.name = name
        self.calls = calls
        self.price = cost

    def prepare(self, operation: PreparedOperation) -> str:
        self.calls.append(self.name)
        return self.name

    def cost(self, operation: PreparedOperation, note: str, variables: Mapping[str, Any]) -> int:
        assert note == self.name
        return self.price


class Refusing(OperationCheck[None]):
    def prepare(self, operation: PreparedOperation) -> None:
        raise OperationError.of("No.", "REFUSED", 403)


@dataclass(frozen=True)
class Without:
    """A restriction: the root field `name` taken out."""

    name: str

    def apply(
        self, operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]
    ) -> Removed:
        kept = tuple(
            s
            for s in operation.selection_set.selections
            if not (isinstance(s, FieldNode) and s.name.value == self.name)
        )
        restricted = OperationDefinitionNode(
            operation=operation.operation,
            name=operation.name,
            variable_definitions=operation.variable_definitions,
            directives=operation.directives,
            selection_set=SelectionSetNode(selections=kept),
        )
        return Removed(restricted, fragments, self.name)


@dataclass(frozen=True)
class Removed:
    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDefinitionNode]
    name: str

    def errors(self, data: JSONObject) -> list[JSONObject]:
        return [{"message": f"{self.name} taken out", "path": [self.name]}]


class Anonymous(OperationCheck[None]):
    """Takes `review` out for requests without a viewer."""

    def prepare(self, operation: PreparedOperation) -> None:
        return None

    def restriction(
        self, operation: PreparedOperation, note: None, viewer: Viewer | None
    ) -> Without | None:
        return Without("review") if viewer is None else None


def _operations(*checks: OperationCheck[Any]) -> Operations:
    return Operations(SUPERGRAPH, build_api_schema(SUPERGRAPH), 10, checks)


def test_checks_run_in_order_once_per_operation_and_their_costs_add_up() -> None:
    calls: list[str] = []
    operations = _operations(Counting("first", calls, 2), Counting("second", calls, 3))
    prepared = operations.prepare(QUERY, None)
    assert operations.prepare(QUERY, None) is prepared
    assert calls == ["first", "second"]
    assert prepared.notes == ("first", "second")
    assert operations.cost(prepared, {}) == 5


def test_a_refusal_stops_the_later_checks_and_is_cached() -> None:
    calls: list[str] = []
    operations = _operations(Counting("before", calls), Refusing(), Counting("after", calls))
    for _ in range(2):
        with pytest.raises(OperationError) as refused:
            operations.prepare(QUERY, None)
        assert (refused.value.status, refused.value.errors[0]["extensions"]) == (
            403,
            {"code": "REFUSED"},
        )
    assert calls == ["before"]


def test_plans_are_kept_per_restriction() -> None:
    operations = _operations(Anonymous())
    prepared = operations.prepare(QUERY, None)
    anonymous = operations.planned(prepared, {}, None)
    assert operations.planned(prepared, {}, None) is anonymous
    assert anonymous.plan.to_json()["node"]["serviceName"] == "accounts"
    [removed] = anonymous.restricted
    assert removed.errors({}) == [{"message": "review taken out", "path": ["review"]}]
    signed_in = operations.planned(prepared, {}, Viewer(id="u1", role="STUDENT"))
    assert signed_in.restricted == ()
    assert signed_in.plan.to_json()["node"]["kind"] == "Parallel"
