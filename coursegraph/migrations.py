"""Alembic per subgraph, without per-subgraph boilerplate.

One shared environment (`coursegraph/alembic/`) serves every subgraph; each subgraph keeps
its own revisions in `subgraphs/<name>/migrations/` and its own version table inside its
own PostgreSQL schema.
"""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection

from coursegraph.db import async_url, create_engine

ALEMBIC_DIR = Path(__file__).parent / "alembic"
SUBGRAPHS_DIR = Path(__file__).resolve().parent.parent / "subgraphs"


def subgraph_metadata(subgraph: str) -> MetaData:
    models = importlib.import_module(f"subgraphs.{subgraph}.models")
    metadata: MetaData = models.Base.metadata
    return metadata


def alembic_config(subgraph: str, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    config.set_main_option("version_locations", str(SUBGRAPHS_DIR / subgraph / "migrations"))
    config.set_main_option("path_separator", "os")
    config.attributes["subgraph"] = subgraph
    config.attributes["database_url"] = database_url
    return config


def upgrade(subgraph: str, database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(subgraph, database_url), revision)


def downgrade(subgraph: str, database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(subgraph, database_url), revision)


def revision(subgraph: str, database_url: str, message: str) -> None:
    """Autogenerate a revision from the subgraph's models against a migrated database."""
    command.revision(alembic_config(subgraph, database_url), message=message, autogenerate=True)


# ------------------------------------------------------------------ used by alembic/env.py
def run_env(config: Config, context: object) -> None:
    subgraph: str = config.attributes["subgraph"]
    database_url: str = config.attributes["database_url"]
    metadata = subgraph_metadata(subgraph)
    schema = metadata.schema
    assert schema, f"subgraphs.{subgraph}.models.Base must name its schema"

    def run(connection: Connection) -> None:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        context.configure(  # type: ignore[attr-defined]
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=True,
            include_name=lambda name, type_, _parent: type_ != "schema" or name == schema,
            compare_type=True,
        )
        with context.begin_transaction():  # type: ignore[attr-defined]
            context.run_migrations()  # type: ignore[attr-defined]

    async def main() -> None:
        engine = create_engine(async_url(database_url), pool_size=1)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(run)
        finally:
            await engine.dispose()

    asyncio.run(main())
