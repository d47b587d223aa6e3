"""Plain fields, resolvers without arguments and unions answered by the kernel's execution
context: the same data and the same errors, at the same paths, as Strawberry and
graphql-core give."""

from __future__ import annotations

import asyncio
import enum
import gc
from collections.abc import Awaitable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import pytest
import strawberry
from graphql import GraphQLObjectType
from strawberry.permission import BasePermission
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import Info

from coursegraph.execution import DirectResolver, PlainAttribute, SubgraphExecution
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


async def _later(value: Any) -> Any:
    await asyncio.sleep(0)
    if isinstance(value, Exception):
        raise value
    return value


@strawberry.type
class Maker:
    """Its resolvers take no arguments: each answers what its `name` asks for."""

    name: str

    @strawberry.field
    def loud(self) -> str:
        if self.name == "boom":
            raise ValueError("loud failed")
        return self.name.upper()

    @strawberry.field
    async def later(self, info: Info) -> str:
        await asyncio.sleep(0)
        if self.name == "fail":
            raise ValueError("later failed")
        if self.name == "none":
            return None  # type: ignore[return-value]
        return f"{self.name} {info.field_name} {info.path.key}"

    @strawberry.field(graphql_type=int)
    def maybe(self, info: Info) -> int | Awaitable[int]:
        # A value or an awaitable, as the loaders' `now_or_later` answer.
        if self.name == "slow":
            return _later(len(self.name))
        if self.name == "slowfail":
            return _later(ValueError("maybe failed"))
        return len(self.name)

    @strawberry.field
    def echo(root: Maker) -> str:  # Strawberry passes the source as `root`
        return root.name


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
    maker: Maker
    sidekick: Maker | None
    makers: list[Maker | None]
    hidden: str = strawberry.field(permission_classes=[Never])

    @strawberry.field
    def shout(self, times: int = 1) -> str:
        return self.title.upper() * times

    @strawberry.field
    def size(self) -> int:
        return len(self.tags)

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
        "maker": Maker(name="m"),
        "sidekick": None,
        "makers": [],
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
    def loose(self) -> list[Item | None]:
        # Built anew for each schema: an awaitable item is awaited once.
        return SOURCE["loose"]()

    @strawberry.field
    def first(self) -> Item | None:
        return SOURCE["items"][0]

    @strawberry.field
    def either(self) -> Annotated[Item | Other, strawberry.union("Either")]:
        return SOURCE["either"]


FIELDS = (
    "id title count rating level at price { amount currency } tags maker { name }"
    " sidekick { name } makers { name } shout(times: 2) size"
)
MAKER = "name loud later maybe echo"


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


def test_only_plain_fields_and_resolvers_without_arguments_get_the_direct_path() -> None:
    kernel, _ = _schemas()
    item = kernel._schema.type_map["Item"]
    assert isinstance(item, GraphQLObjectType)
    plain = {n for n, field in item.fields.items() if type(field.resolve) is PlainAttribute}
    # Not `tags` and `makers` (lists), `hidden` (a permission), `shout` and `size` (resolvers).
    assert plain == {"id", "title", "count", "rating", "level", "at", "price", "maker", "sidekick"}
    direct = {n for n, field in item.fields.items() if type(field.resolve) is DirectResolver}
    # Not `shout`: it takes an argument.
    assert direct == {"size"}
    maker = kernel._schema.type_map["Maker"]
    assert isinstance(maker, GraphQLObjectType)
    assert all(type(maker.fields[n].resolve) is DirectResolver for n in MAKER.split()[1:])
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
        "maker": {"name": "m"},
        "sidekick": None,
        "makers": [],
        "shout": "TT",
        "size": 1,
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


async def test_objects_and_resolvers_without_arguments_answer_as_strawberry_does() -> None:
    result = await _both(
        f"{{ items {{ id maker {{ {MAKER} }} sidekick {{ {MAKER} }} m: maker {{ name }} }} }}",
        [
            _item("1"),
            _item("2", maker=Maker(name="slow"), sidekick=Maker(name="s")),
            _item("3", sidekick=Maker(name="slow")),
        ],
    )
    assert result.errors is None
    assert result.data["items"][1]["maker"] == {
        "name": "slow",
        "loud": "SLOW",
        "later": "slow later later",
        "maybe": 4,
        "echo": "slow",
    }


@pytest.mark.parametrize("name", ["boom", "fail", "none", "slowfail"])
@pytest.mark.parametrize("where", ["maker", "sidekick"])
async def test_failures_under_objects_are_the_same_errors(where: str, name: str) -> None:
    # A non-null field failing in a non-null object nulls the item, in a nullable one the
    # object; sync, async and awaitable failures alike.
    result = await _both(
        f"{{ first {{ id maker {{ name }} {where} {{ {MAKER} }} }} }}",
        [_item("1", **{where: Maker(name=name)})],
    )
    assert result.errors


async def test_null_for_a_non_null_object_and_exceptions_as_objects() -> None:
    for maker in (None, ValueError("kept in the object")):
        result = await _both("{ first { id maker { name } } }", [_item("1", maker=maker)])
        assert result.data == {"first": None}
        assert result.errors


async def test_a_failing_object_in_a_non_null_list() -> None:
    result = await _both(
        "{ items { id maker { name later } } }",
        [_item("1"), _item("2", maker=Maker(name="fail")), _item("3", maker=None)],
    )
    assert result.data is None
    assert result.errors


def _loose() -> list[Any]:
    return [
        _item("1"),
        None,
        ValueError("an exception as the item"),
        _later(_item("4", maker=Maker(name="slow"))),
        _later(ValueError("an awaitable failing")),
        _item("6", maker=Maker(name="fail")),
        _item("7", makers=[Maker(name="a"), None, Maker(name="fail"), Maker(name="slowfail")]),
        _item("8", maker=Maker(name="boom")),
    ]


async def test_lists_of_objects_complete_as_graphql_core_does() -> None:
    SOURCE["loose"] = _loose
    result = await _both(f"{{ loose {{ id maker {{ {MAKER} }} makers {{ {MAKER} }} }} }}")
    data = result.data["loose"]
    assert [None if row is None else row["id"] for row in data] == [
        "1", None, None, "4", None, None, "7", None,
    ]  # fmt: skip
    assert data[6]["makers"] == [
        {"name": "a", "loud": "A", "later": "a later later", "maybe": 1, "echo": "a"},
        None,
        None,
        None,
    ]
    assert len(result.errors or ()) == 6


async def test_a_null_item_in_a_non_null_list() -> None:
    result = await _both("{ items { id maker { name } } }", [_item("1"), None, _item("3")])
    assert result.data is None
    assert result.errors


async def test_lists_without_objects_keep_the_general_path() -> None:
    result = await _both("{ items { tags } loose { tags } }", [_item(tags=["x", "y"])])
    assert result.data["items"] == [{"tags": ["x", "y"]}]


@strawberry.federation.type(keys=["id"])
class Traced:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, info: Info, id: strawberry.ID) -> Traced:
        assert info.field_name == "_entities"
        return cls(id=id)

    @strawberry.field
    async def later(self) -> str:
        return str(await _later(self.id))


async def test_an_execution_leaves_no_reference_cycle() -> None:
    """A request's executor, context and entities are freed by reference counting when it
    ends, not left to the cyclic collector (coursegraph/execution.py's module docstring)."""
    schema = build_schema(Query, types=[Traced])
    query = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Traced { id later } } }"
    variables = {"r": [{"__typename": "Traced", "id": str(n)} for n in range(3)]}
    assert (await schema.execute(query, variables)).data == {
        "_entities": [{"id": str(n), "later": str(n)} for n in range(3)]
    }
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(3):
            result = await schema.execute(query, variables, context_value={"viewer": None})
            assert result.errors is None
        del result
        gc.collect()
        left = [type(o).__qualname__ for o in gc.garbage]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert left == []
