"""Resolving the database for commands: `DATABASE_URL`, else the embedded server."""

from __future__ import annotations

import asyncio

import asyncpg

from coursegraph.embedded_pg import EmbeddedPostgres, with_database
from coursegraph.settings import Settings

DEV_DATABASE = "coursegraph"


async def create_database(server_url: str, name: str) -> None:
    """CREATE DATABASE unless it exists (connects to the server's `postgres` database)."""
    connection = await asyncpg.connect(_asyncpg_dsn(with_database(server_url, "postgres")))
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def drop_database(server_url: str, name: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(with_database(server_url, "postgres")))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def ensure_database(
    settings: Settings, *, keep_running: bool = False
) -> tuple[Settings, EmbeddedPostgres | None]:
    """Settings with a usable DATABASE_URL; starts the embedded server when none is set."""
    if settings.database_url:
        return settings, None
    embedded = EmbeddedPostgres(settings.data_dir, keep_running=keep_running)
    server_url = embedded.start()
    asyncio.run(create_database(server_url, DEV_DATABASE))
    url = with_database(server_url, DEV_DATABASE)
    return settings.model_copy(update={"database_url": url}), embedded
