"""Which subgraphs exist in this checkout, and how to build their apps.

Subgraphs are found by name, so a checkout without one still runs the others.
"""

from __future__ import annotations

import importlib
import importlib.util

import click
from starlette.applications import Starlette

from coursegraph.settings import SUBGRAPHS, Section, Settings


def available() -> list[str]:
    return [name for name in SUBGRAPHS if importlib.util.find_spec(f"subgraphs.{name}")]


def create_app(name: str, settings: Settings, section: Section | None = None) -> Starlette:
    """`section`: the subgraph's own settings; default: the environment's."""
    module = importlib.import_module(f"subgraphs.{name}.app")
    app: Starlette = module.create_app(settings, section)
    return app


def schema_sdl(name: str) -> str:
    module = importlib.import_module(f"subgraphs.{name}.schema")
    sdl: str = module.schema.as_str()
    return sdl + "\n"


def commands() -> list[click.Command]:
    """The CLI commands subgraphs offer (`subgraphs/<name>/cli.py`: `command`)."""
    found: list[click.Command] = []
    for name in available():
        if importlib.util.find_spec(f"subgraphs.{name}.cli") is None:
            continue
        module = importlib.import_module(f"subgraphs.{name}.cli")
        found.append(module.command)
    return found
