"""Plain fields and unions answered by the kernel's execution context: the same data and
the same errors, at the same paths, as Strawberry and graphql-core give."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import pytest
import strawberry
from graphql import GraphQLObjectType
from strawberry.permission import BasePermission
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import Info

from coursegraph.execution import PlainAttribute, SubgraphExecution
from coursegraph.federation import build_schema
from coursegraph.graphql_types import DECIMAL_SCALAR, Money


@strawberry.enum
class Level(enum.Enum):
    EASY = "EASY"
    HARD = "HARD"


class Never(BasePermission):
    message = "never"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return False


@strawberry.federation.type(keys=["id"])
class Item:
    id: strawberry.ID
    title: str
    count: int
    rating: float | None
    level: Level
    at: datetime
    price: Money | None
    tags: list[str]
    hidden: str = strawberry.field(permission_classes=[Never])

    @strawberry.field
    def shout(self, times: int = 1) -> str:
        return self.title.upper() * times

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Item:
        return _item(id)


@strawberry.federation.type(keys=["id"])
class Other:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Other:
        return cls(id=id)


def _item(id: str = "1", **changes: Any) -> Item:
    values: dict[str, Any] = {
        "id": strawberry.ID(id),
        "title": "t",
        "count": 3,
        "rating": None,
        "level": Level.HARD,
        "at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "price": Money(amount=Decimal("9.50"), currency="EUR"),
        "tags": ["a"],
        "hidden": "x",
    }
    return Item(**(values | changes))


SOURCE: dict[str, Any] = {}


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return SOURCE["items"]

    @strawberry.field
    def first(self) -> Item | None:
        return SOURCE["items"][0]

    @strawberry.field
    def either(self) -> Annotated[Item | Other, strawberry.union("Either")]:
        return SOURCE["either"]


FIELDS = "id title count rating level at price { amount currency } tags shout(times: 2)"


def _schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    """The kernel's schema, and Strawberry's own over the same types."""
    kernel = build_schema(Query, types=[Other])
    plain = strawberry.federation.Schema(
        query=Query,
        types=[Other],
        execution_context_class=StrawberryGraphQLCoreExecutionContext,
        scalar_overrides={Decimal: DECIMAL_SCALAR},
    )
    return kernel, plain


async def _both(query: str, items: list[Any] | None = None, either: Any = None) -> Any:
    SOURCE["items"], SOURCE["either"] = items or [_item()], either
    kernel, plain = _schemas()
    ours, theirs = await kernel.execute(query), await plain.execute(query)
    assert ours.data == theirs.data
    described = [(e.message, e.path, e.locations) for e in ours.errors or ()]
    assert described == [(e.message, e.path, e.locations) for e in theirs.errors or ()]
    return ours


def test_only_plain_scalar_fields_get_the_direct_path() -> None:
    kernel, _ = _schemas()
    item = kernel._schema.type_map["Item"]
    assert isinstance(item, GraphQLObjectType)
    direct = {n for n, field in item.fields.items() if type(field.resolve) is PlainAttribute}
    # Not `price` (an object), `tags` (a list), `hidden` (a permission), `shout` (a resolver).
    assert direct == {"id", "title", "count", "rating", "level", "at"}
    assert kernel.execution_context_class is SubgraphExecution


async def test_plain_fields_answer_as_strawberry_does() -> None:
    result = await _both(
        f"{{ items {{ {FIELDS} again: title __typename }} first {{ t: title }} }}",
        [_item("1"), _item("2", rating=4.5, price=None, level=Level.EASY)],
    )
    assert result.data["items"][1] == {
        "id": "2",
        "title": "t",
        "count": 3,
        "rating": 4.5,
        "level": "EASY",
        "at": "2026-01-02T03:04:05+00:00",
        "price": None,
        "tags": ["a"],
        "shout": "TT",
        "again": "t",
        "__typename": "Item",
    }
    assert result.errors is None


@pytest.mark.parametrize(
    "bad",
    [
        {"title": None},  # null for a non-null field
        {"count": "three"},  # not an Int
        {"count": 2**40},  # beyond an Int
        {"title": ValueError("kept in the object")},  # an exception as the value
        {"rating": float("nan")},  # not a finite Float
    ],
)
async def test_failures_are_the_same_errors_at_the_same_paths(bad: dict[str, Any]) -> None:
    result = await _both(f"{{ items {{ {FIELDS} }} }}", [_item("1"), _item("2", **bad)])
    assert result.errors


async def test_a_missing_attribute_fails_as_before() -> None:
    broken = _item()
    del broken.title
    result = await _both("{ items { id title } }", [broken])
    assert result.errors


async def test_a_permission_still_refuses() -> None:
    result = await _both("{ items { id hidden } }")
    assert [e.message for e in result.errors or ()] == ["never"]


async def test_union_members_are_resolved_by_class() -> None:
    for either in (_item(), Other(id=strawberry.ID("o")), _item(), Other(id=strawberry.ID("p"))):
        result = await _both(
            "{ either { __typename ... on Item { title } ... on Other { id } } }", either=either
        )
        assert result.data["either"]["__typename"] == type(either).__name__
    cast = strawberry.cast(Other, _item())
    result = await _both("{ either { __typename } }", either=cast)
    assert result.data == {"either": {"__typename": "Other"}}


async def test_entities_of_several_types() -> None:
    kernel, _ = _schemas()
    result = await kernel.execute(
        '{ _entities(representations: [{__typename: "Item", id: "1"}, '
        '{__typename: "Other", id: "2"}, {__typename: "Item", id: "3"}]) '
        "{ __typename ... on Item { id title } ... on Other { id } } }"
    )
    assert result.errors is None
    assert result.data == {
        "_entities": [
            {"__typename": "Item", "id": "1", "title": "t"},
            {"__typename": "Other", "id": "2"},
            {"__typename": "Item", "id": "3", "title": "t"},
        ]
    }
