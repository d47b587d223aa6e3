"""The `coursegraph` command, run as a real process."""

from __future__ import annotations

from coursegraph.settings import Settings
from subgraphs.users.settings import UsersSettings
from tests.helpers import run_cli


def test_create_admin_and_refuse_a_duplicate(settings: Settings, clean_database: None) -> None:
    args = ("users", "create-admin", "--email", "root@example.com", "--name", "Root")
    env = {"COURSEGRAPH_ADMIN_PASSWORD": "long enough password"}
    created = run_cli(settings, *args, env=env)
    assert created.returncode == 0, created.stderr
    assert "admin created" in created.stdout
    again = run_cli(settings, *args, env=env)
    assert again.returncode != 0
    assert "already exists" in again.stderr


def test_rotate_keys_adds_a_key(settings: Settings, users_section: UsersSettings) -> None:
    folder = users_section.keys_dir(settings)
    before = set(folder.glob("*.pem")) if folder.exists() else set()
    rotated = run_cli(settings, "users", "rotate-keys")
    assert rotated.returncode == 0, rotated.stderr
    assert len(set(folder.glob("*.pem")) - before) == 1
