"""coursegraph.lookahead: what a list's items are asked for, and answers without awaiting."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence

import pytest
import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from coursegraph.lookahead import now_or_later, selects, then

BATCHES: list[list[int]] = []
SEEN: list[frozenset[str]] = []


async def double(keys: Sequence[int]) -> list[int]:
    BATCHES.append(list(keys))
    return [2 * k for k in keys]


@strawberry.type
class Item:
    n: int

    @strawberry.field(graphql_type=int)
    def doubled(self, info: Info) -> int | Awaitable[int]:
        return now_or_later(info.context["loader"], self.n)

    @strawberry.field(graphql_type=str)
    def label(self, info: Info) -> str | Awaitable[str]:
        return then(now_or_later(info.context["loader"], self.n), lambda d: f"#{d}")


@strawberry.type
class Page:
    items: list[Item]


@strawberry.type
class Query:
    @strawberry.field
    async def page(self, info: Info, prefetch: bool = True) -> Page:
        wanted = selects(info, "items")
        SEEN.append(wanted)
        numbers = [1, 2, 3]
        if prefetch and {"doubled", "label"} & wanted:
            await info.context["loader"].load_many(numbers)
        return Page(items=[Item(n=n) for n in numbers])


schema = strawberry.Schema(query=Query)


async def run(query: str) -> dict[str, object]:
    BATCHES.clear()
    SEEN.clear()
    result = await schema.execute(query, context_value={"loader": DataLoader(load_fn=double)})
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data


async def test_selects_sees_fields_through_fragments() -> None:
    await run(
        "query { page { items { n ...More ... on Item { label } } } }"
        " fragment More on Item { doubled }"
    )
    assert [frozenset({"n", "doubled", "label"})] == SEEN


async def test_selects_follows_its_path_through_fragments_and_aliases() -> None:
    await run(
        "query { page { ...P ... on Page { again: items { label } } } }"
        " fragment P on Page { items { n } }"
    )
    assert [frozenset({"n", "label"})] == SEEN


async def test_items_answer_from_the_loaded_list_in_one_batch() -> None:
    data = await run("{ page { items { n doubled label } } }")
    assert data == {
        "page": {
            "items": [
                {"n": 1, "doubled": 2, "label": "#2"},
                {"n": 2, "doubled": 4, "label": "#4"},
                {"n": 3, "doubled": 6, "label": "#6"},
            ]
        }
    }
    assert BATCHES == [[1, 2, 3]]


async def test_without_the_list_loading_items_await_one_batch_as_before() -> None:
    data = await run("{ page(prefetch: false) { items { doubled label } } }")
    assert [i["doubled"] for i in data["page"]["items"]] == [2, 4, 6]  # type: ignore[index]
    assert BATCHES == [[1, 2, 3]]


async def test_nothing_loaded_when_not_selected() -> None:
    await run("{ page { items { n } } }")
    assert BATCHES == []


async def test_now_or_later_and_then() -> None:
    loader = DataLoader(load_fn=double)
    chained = then(now_or_later(loader, 5), lambda d: d + 1)
    assert isinstance(chained, asyncio.Future)
    assert await chained == 11
    assert now_or_later(loader, 5) == 10  # loaded: the value itself
    assert then(7, lambda d: d * 3) == 21


async def test_then_carries_a_failure_to_whoever_awaits() -> None:
    async def failing(keys: Sequence[int]) -> list[int]:
        raise RuntimeError("database gone")

    loader: DataLoader[int, int] = DataLoader(load_fn=failing)
    pending: int | Awaitable[int] = now_or_later(loader, 1)
    chained = then(pending, lambda d: d)
    with pytest.raises(RuntimeError, match="database gone"):
        await chained  # type: ignore[misc]
    # A failed load is not a value: it is handed back to be awaited (and raise) again.
    again: int | Awaitable[int] = now_or_later(loader, 1)
    assert isinstance(again, asyncio.Future)

    def bad(_: int) -> int:
        raise ValueError("bad row")

    fresh: DataLoader[int, int] = DataLoader(load_fn=double)
    loaded: int | Awaitable[int] = now_or_later(fresh, 2)
    converted = then(loaded, bad)
    with pytest.raises(ValueError, match="bad row"):
        await converted  # type: ignore[misc]
