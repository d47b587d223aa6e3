"""Files' settings: production needs a real URL secret; Mux needs all of its credentials."""

from __future__ import annotations

from typing import Any

import pytest

from coursegraph.settings import SERVICES, Settings
from subgraphs.files.bootstrap import make_processor
from subgraphs.files.processing.local import LocalProcessor
from subgraphs.files.storage.local import LocalStorage

EXPLICIT_KEYS: dict[str, Any] = {
    f"service_key_{name}": f"{name}-key-" + "x" * 32 for name in SERVICES
}


def test_production_needs_a_url_secret_when_the_service_secret_is_the_default() -> None:
    with pytest.raises(ValueError, match="FILES_URL_SECRET"):
        Settings(_env_file=None, COURSEGRAPH_ENV="production", **EXPLICIT_KEYS)
    settings = Settings(
        _env_file=None, COURSEGRAPH_ENV="production", files_url_secret="real", **EXPLICIT_KEYS
    )
    assert settings.files_url_key() == b"real"


def test_the_derived_url_key_is_not_a_service_key() -> None:
    settings = Settings(_env_file=None, service_secret_key="s")
    assert settings.files_url_key() not in {settings.service_key(name) for name in SERVICES}


def test_mux_needs_every_credential() -> None:
    settings = Settings(_env_file=None, files_video_processor="mux", mux_token_id="id")
    storage = LocalStorage(settings.data_dir / "files", "http://127.0.0.1", b"k")
    with pytest.raises(RuntimeError, match="MUX_TOKEN_SECRET"):
        make_processor(settings, storage)
    local = Settings(_env_file=None)
    assert isinstance(make_processor(local, storage), LocalProcessor)
