"""The router serves with a larger young generation, and gives the old one back."""

from __future__ import annotations

import asyncio
import gc

from coursegraph.collector import young_generation
from router.bootstrap import create_app
from router.server import YOUNG_THRESHOLD
from tests.router.conftest import _router


def test_young_generation_is_restored() -> None:
    before = gc.get_threshold()
    with young_generation(12_345):
        assert gc.get_threshold() == (12_345, *before[1:])
    assert gc.get_threshold() == before


def test_the_router_app_collects_with_a_larger_young_generation() -> None:
    app = create_app(_router("basic", "http://127.0.0.1:9"))
    before = gc.get_threshold()

    async def serve() -> None:
        async with app.router.lifespan_context(app):
            assert gc.get_threshold() == (YOUNG_THRESHOLD, *before[1:])

    asyncio.run(serve())
    assert gc.get_threshold() == before
