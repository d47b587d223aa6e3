"""Files' settings: production needs a real URL secret; Mux needs all of its credentials;
the variables keep their names."""

from __future__ import annotations

from typing import Any

import pytest

from coursegraph.settings import SERVICES, Settings
from subgraphs.files.bootstrap import make_processor
from subgraphs.files.processing.local import LocalProcessor
from subgraphs.files.settings import FilesSettings, MuxSettings
from subgraphs.files.storage.local import LocalStorage

EXPLICIT_KEYS: dict[str, Any] = {
    f"service_key_{name}": f"{name}-key-" + "x" * 32 for name in SERVICES
}


def test_production_needs_a_url_secret_when_the_service_secret_is_the_default() -> None:
    production = Settings(_env_file=None, COURSEGRAPH_ENV="production", **EXPLICIT_KEYS)
    with pytest.raises(RuntimeError, match="FILES_URL_SECRET"):
        FilesSettings(_env_file=None).url_key(production)
    section = FilesSettings(_env_file=None, url_secret="real")
    assert section.url_key(production) == b"real"


def test_the_derived_url_key_is_not_a_service_key() -> None:
    settings = Settings(_env_file=None, service_secret_key="s")
    key = FilesSettings(_env_file=None).url_key(settings)
    assert key not in {settings.service_key(name) for name in SERVICES}


def test_mux_needs_every_credential() -> None:
    section = FilesSettings(_env_file=None, video_processor="mux", mux=MuxSettings(token_id="id"))
    storage = LocalStorage(Settings(_env_file=None).data_dir / "files", "http://127.0.0.1", b"k")
    with pytest.raises(RuntimeError, match="MUX_TOKEN_SECRET"):
        make_processor(section, storage)
    assert isinstance(make_processor(FilesSettings(_env_file=None), storage), LocalProcessor)


def test_variables_keep_their_names(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "FILES_STORAGE": "s3",
        "FILES_S3_BUCKET": "bucket",
        "FILES_S3_SECRET_ACCESS_KEY": "s3-secret",
        "FILES_PROCESSING_MAX_ATTEMPTS": "2",
        "FILES_PLAYBACK_URL_TTL_SECONDS": "60",
        "FILES_URL": "http://files.internal",  # the kernel's, not this section's
        "MUX_TOKEN_ID": "token",
        "MUX_WEBHOOK_TOLERANCE_SECONDS": "30",
    }.items():
        monkeypatch.setenv(name, value)
    section = FilesSettings(_env_file=None)
    assert (section.storage, section.s3.bucket, section.s3.region) == ("s3", "bucket", "us-east-1")
    assert section.s3.secret_access_key is not None
    assert section.s3.secret_access_key.get_secret_value() == "s3-secret"
    assert (section.processing.max_attempts, section.playback_url_ttl_seconds) == (2, 60)
    assert section.mux.token_id is not None
    assert section.mux.token_id.get_secret_value() == "token"
    assert section.mux.webhook_tolerance_seconds == 30
    assert section.resolved_public_url(Settings(_env_file=None)) == "http://files.internal"
