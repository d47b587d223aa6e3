"""Alembic for a subgraph named: its revisions in `subgraphs/<name>/migrations/`, its
schema named by `subgraphs/<name>/models.py`'s `Base`; the kernel's helpers do the rest."""

from __future__ import annotations

import importlib
from pathlib import Path

from sqlalchemy import MetaData

from coursegraph import migrations


def source(subgraph: str) -> tuple[Path, MetaData]:
    """The revisions folder and the models' metadata of one subgraph."""
    models = importlib.import_module(f"subgraphs.{subgraph}.models")
    metadata: MetaData = models.Base.metadata
    return Path(str(models.__file__)).parent / "migrations", metadata


def upgrade(subgraph: str, database_url: str, revision: str = "head") -> None:
    migrations.upgrade(*source(subgraph), database_url, revision)


def downgrade(subgraph: str, database_url: str, revision: str) -> None:
    migrations.downgrade(*source(subgraph), database_url, revision)


def revision(subgraph: str, database_url: str, message: str) -> None:
    """Autogenerate a revision from the subgraph's models against a migrated database."""
    migrations.revision(*source(subgraph), database_url, message)
