"""Alembic per subgraph, without per-subgraph boilerplate.

One shared environment (`coursegraph/alembic/`) serves every subgraph; each keeps its own
revisions in its own folder and its own version table inside the PostgreSQL schema its
metadata names. The caller says which folder and metadata: the kernel knows no subgraph.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection

from coursegraph.db import async_url, create_engine

ALEMBIC_DIR = Path(__file__).parent / "alembic"


def alembic_config(versions: Path, metadata: MetaData, database_url: str) -> Config:
    """`versions`: the folder of revisions; `metadata`: the models they build, which name
    their PostgreSQL schema."""
    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    config.set_main_option("version_locations", str(versions))
    config.set_main_option("path_separator", "os")
    config.attributes["metadata"] = metadata
    config.attributes["database_url"] = database_url
    return config


def upgrade(versions: Path, metadata: MetaData, database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(versions, metadata, database_url), revision)


def downgrade(versions: Path, metadata: MetaData, database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(versions, metadata, database_url), revision)


def revision(versions: Path, metadata: MetaData, database_url: str, message: str) -> None:
    """Autogenerate a revision from the models against a migrated database."""
    command.revision(
        alembic_config(versions, metadata, database_url), message=message, autogenerate=True
    )


# ------------------------------------------------------------------ used by alembic/env.py
def run_env(config: Config, context: object) -> None:
    database_url: str = config.attributes["database_url"]
    metadata: MetaData = config.attributes["metadata"]
    schema = metadata.schema
    versions = config.get_main_option("version_locations")
    assert schema, f"the models migrated by {versions} must name their PostgreSQL schema"

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
