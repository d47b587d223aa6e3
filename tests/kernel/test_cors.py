"""CORS_ORIGINS: parsing, defaults per environment, and its way into `make dev`'s router.yaml."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from coursegraph.cors import DEVELOPMENT_ORIGINS, AllowedOrigins, parse_origins
from coursegraph.settings import Settings
from launcher.devstack import DevStack
from router.config import RouterConfig


def _matches(origins: AllowedOrigins, origin: str) -> bool:
    if origin in origins.exact:
        return True
    return origins.regex is not None and re.fullmatch(origins.regex, origin) is not None


def test_exact_and_wildcard_origins() -> None:
    origins = parse_origins(
        ["https://App.example.com/", "http://localhost:*", "https://*.preview.example.com:8443"]
    )
    assert origins.exact == ("https://app.example.com",)
    allowed = (
        "https://app.example.com",
        "http://localhost",
        "http://localhost:5173",
        "https://pr-12.preview.example.com:8443",
    )
    refused = (
        "https://example.com",
        "http://localhost.evil.test",
        "http://localhost:5173.evil.test",
        "https://localhost:5173",
        "https://a.b.preview.example.com:8443",
        "https://pr-12.preview.example.com",
        "http://localhostX:80",
    )
    assert [o for o in allowed if not _matches(origins, o)] == []
    assert [o for o in refused if _matches(origins, o)] == []
    assert not parse_origins([])


@pytest.mark.parametrize(
    "bad", ["*", "localhost:5173", "http://*", "http://*:*", "http://a.test/x", "ws://a.test"]
)
def test_malformed_origins_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="scheme://host"):
        parse_origins([bad])


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_defaults_per_environment() -> None:
    assert _settings(COURSEGRAPH_ENV="development").resolved_cors_origins == DEVELOPMENT_ORIGINS
    assert _settings(COURSEGRAPH_ENV="test").resolved_cors_origins == ()
    production = _settings(COURSEGRAPH_ENV="production", service_secret_key="x" * 32)
    assert production.resolved_cors_origins == ()


def test_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://app.example.com, http://localhost:*")
    assert _settings().resolved_cors_origins == ("https://app.example.com", "http://localhost:*")
    monkeypatch.setenv("CORS_ORIGINS", "")  # explicitly none, even in development
    assert _settings(COURSEGRAPH_ENV="development").resolved_cors_origins == ()
    monkeypatch.setenv("CORS_ORIGINS", "app.example.com")
    with pytest.raises(ValueError, match=r"CORS origin 'app\.example\.com'"):
        _settings()


def test_make_dev_writes_the_origins_into_the_router_config(tmp_path: Path) -> None:
    settings = _settings(
        COURSEGRAPH_DATA_DIR=tmp_path, cors_origins="https://app.example.com,http://localhost:*"
    )
    args = DevStack(settings)._router_args(["users"])
    config = yaml.safe_load(Path(args[args.index("--config") + 1]).read_text(encoding="utf-8"))
    assert config["cors"] == {"origins": ["https://app.example.com", "http://localhost:*"]}
    RouterConfig.model_validate(config)  # a config the router accepts as it is
