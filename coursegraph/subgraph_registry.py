"""Which subgraphs exist in this checkout, and how to build their apps.

The kernel never imports a subgraph statically; the CLI asks here by name.
"""

from __future__ import annotations

import importlib
import importlib.util

from starlette.applications import Starlette

from coursegraph.settings import SUBGRAPHS, Settings


def available() -> list[str]:
    return [name for name in SUBGRAPHS if importlib.util.find_spec(f"subgraphs.{name}")]


def create_app(name: str, settings: Settings) -> Starlette:
    module = importlib.import_module(f"subgraphs.{name}.app")
    app: Starlette = module.create_app(settings)
    return app


def schema_sdl(name: str) -> str:
    module = importlib.import_module(f"subgraphs.{name}.schema")
    sdl: str = module.schema.as_str()
    return sdl + "\n"
