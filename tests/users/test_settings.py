"""Users' settings section: throttle window and key folder defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from coursegraph.settings import Settings
from subgraphs.users.settings import UsersSettings


def test_throttle_window_is_short_outside_production() -> None:
    section = UsersSettings(_env_file=None)
    development = Settings(_env_file=None, COURSEGRAPH_ENV="development")
    assert section.throttle_window_seconds(development) == 60
    assert section.throttle_window_seconds(Settings(_env_file=None, COURSEGRAPH_ENV="test")) == 60
    production = Settings(
        _env_file=None, COURSEGRAPH_ENV="production", service_secret_key="a-real-secret"
    )
    assert section.throttle_window_seconds(production) == 900
    # An explicit window wins everywhere; limits are the same in every environment.
    explicit = UsersSettings(_env_file=None, login_failure_window_seconds=5)
    assert explicit.throttle_window_seconds(production) == 5
    assert (section.login_max_failures_per_email, section.login_max_failures_per_address) == (5, 20)


def test_variables_keep_their_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LOGIN_FAILURE_WINDOW_SECONDS", "7")
    monkeypatch.setenv("REGISTER_MAX_PER_ADDRESS", "3")
    monkeypatch.setenv("JWT_KEYS_KEPT", "2")
    section = UsersSettings(_env_file=None)
    assert (section.login_failure_window_seconds, section.register_max_per_address) == (7, 3)
    assert section.jwt_keys_kept == 2
    kernel = Settings(_env_file=None, COURSEGRAPH_DATA_DIR=tmp_path)
    assert section.keys_dir(kernel) == tmp_path / "jwt-keys"
    monkeypatch.setenv("JWT_KEYS_DIR", str(tmp_path / "keys"))
    assert UsersSettings(_env_file=None).keys_dir(kernel) == tmp_path / "keys"
