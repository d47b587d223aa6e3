"""The `coursegraph` command, run as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from coursegraph.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent


def _run(
    settings: Settings, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "DATABASE_URL": settings.database_url_for("users"),
        "COURSEGRAPH_DATA_DIR": str(settings.data_dir),
        "SERVICE_SECRET_KEY": "test-service-secret",
        "LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "coursegraph.cli", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        check=False,
    )


def test_create_admin_and_refuse_a_duplicate(settings: Settings, clean_database: None) -> None:
    args = ("users", "create-admin", "--email", "root@example.com", "--name", "Root")
    env = {"COURSEGRAPH_ADMIN_PASSWORD": "long enough password"}
    created = _run(settings, *args, env=env)
    assert created.returncode == 0, created.stderr
    assert "admin created" in created.stdout
    again = _run(settings, *args, env=env)
    assert again.returncode != 0
    assert "already exists" in again.stderr


def test_rotate_keys_adds_a_key(settings: Settings) -> None:
    folder = settings.resolved_jwt_keys_dir
    before = set(folder.glob("*.pem")) if folder.exists() else set()
    rotated = _run(settings, "users", "rotate-keys")
    assert rotated.returncode == 0, rotated.stderr
    assert len(set(folder.glob("*.pem")) - before) == 1
