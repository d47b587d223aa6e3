"""`coursegraph seed`: demo data through the real command, twice, against real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
from argon2 import PasswordHasher

from coursegraph.settings import Settings
from subgraphs.courses.seed import COURSES, STUDENTS, TEACHERS


async def _counts(settings: Settings) -> dict[str, int]:
    connection = await asyncpg.connect(settings.database_url_for("courses"))
    try:
        row = await connection.fetchrow(
            """
            SELECT
              (SELECT count(*) FROM users.users) AS users,
              (SELECT count(*) FROM courses.courses) AS courses,
              (SELECT count(*) FROM courses.courses WHERE status = 'PUBLISHED') AS published,
              (SELECT count(*) FROM courses.courses WHERE price_amount_minor IS NULL) AS free,
              (SELECT count(*) FROM courses.lectures) AS lectures,
              (SELECT count(*) FROM courses.enrollments) AS enrollments,
              (SELECT count(*) FROM users.refresh_tokens WHERE revoked_at IS NULL) AS sessions
            """
        )
    finally:
        await connection.close()
    assert row is not None
    return dict(row)


def _seed(settings: Settings, data_dir: Path, extra: dict[str, str] | None = None) -> str:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url_for("courses"),
        "COURSEGRAPH_DATA_DIR": str(data_dir),
        "COURSEGRAPH_ENV": "development",
        **(extra or {}),
    }
    done = subprocess.run(
        [sys.executable, "-m", "launcher.cli", "seed"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_seed_is_idempotent(settings: Settings, clean_database: None, tmp_path: Path) -> None:
    first = await asyncio.to_thread(_seed, settings, tmp_path)
    assert f"{len(COURSES)} courses created" in first
    counts = await _counts(settings)
    assert counts["users"] == len(TEACHERS) + len(STUDENTS)
    assert counts["courses"] == len(COURSES) == 30
    assert counts["published"] == sum(c.published for c in COURSES)
    assert 0 < counts["free"] < counts["courses"]
    assert counts["lectures"] > 3 * counts["courses"]
    assert counts["enrollments"] > 0
    assert counts["sessions"] == 0  # seeding signs nobody in

    second = await asyncio.to_thread(_seed, settings, tmp_path)
    assert f"0 courses created, {len(COURSES)} existed" in second
    assert await _counts(settings) == counts


async def test_seed_ignores_sign_in_lockouts(
    settings: Settings, clean_database: None, tmp_path: Path
) -> None:
    # Demo accounts locked by wrong passwords tried by hand, and a demo password changed
    # by SEED_PASSWORD since the last seed: seeding neither signs in nor fails.
    await asyncio.to_thread(_seed, settings, tmp_path)
    connection = await asyncpg.connect(settings.database_url_for("users"))
    try:
        for email, _ in (*TEACHERS, *STUDENTS):
            await connection.execute(
                "INSERT INTO users.login_failures VALUES ($1, 99, now())", f"account:{email}"
            )
    finally:
        await connection.close()
    again = await asyncio.to_thread(_seed, settings, tmp_path, {"SEED_PASSWORD": "new-demo-pass"})
    for email, _ in (*TEACHERS, *STUDENTS):
        assert email in again  # every demo account is listed
    assert "'new-demo-pass'" in again
    connection = await asyncpg.connect(settings.database_url_for("users"))
    try:
        hashes = await connection.fetch("SELECT password_hash FROM users.users")
    finally:
        await connection.close()
    assert len(hashes) == len(TEACHERS) + len(STUDENTS)
    assert all(PasswordHasher().verify(row["password_hash"], "new-demo-pass") for row in hashes)


def test_seed_refuses_production(settings: Settings, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url_for("courses"),
        "COURSEGRAPH_DATA_DIR": str(tmp_path),
        "COURSEGRAPH_ENV": "production",
        "SERVICE_SECRET_KEY": "a-real-production-secret",
    }
    done = subprocess.run(
        [sys.executable, "-m", "launcher.cli", "seed"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "not production" in done.stderr
