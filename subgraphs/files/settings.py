"""The files subgraph's settings section (FILES_*, and MUX_* for the Mux processor)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from coursegraph.settings import DEV_SERVICE_SECRET, Section, Settings


class S3Settings(BaseModel):
    """FILES_S3_*."""

    bucket: str = "coursegraph-files"
    endpoint_url: str | None = None  # unset: AWS; set for MinIO, moto, R2 …
    region: str = "us-east-1"
    access_key_id: SecretStr | None = None  # unset: boto3's credential chain
    secret_access_key: SecretStr | None = None


class ProcessingSettings(BaseModel):
    """FILES_PROCESSING_*: the worker's poll interval, and tries before a video FAILS."""

    poll_seconds: float = 2.0
    max_attempts: int = 5


class MuxSettings(BaseModel):
    """MUX_*."""

    api_url: str = "https://api.mux.com"
    token_id: SecretStr | None = None
    token_secret: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    webhook_tolerance_seconds: int = 300
    signing_key_id: str | None = None
    signing_private_key: SecretStr | None = None  # PEM, or base64 of it as Mux shows it
    stream_url: str = "https://stream.mux.com"
    image_url: str = "https://image.mux.com"


class FilesSettings(Section):
    model_config = SettingsConfigDict(env_prefix="files_")

    storage: Literal["local", "s3"] = "local"
    storage_dir: Path | None = None  # local storage; default: data_dir / "files"
    # Base of the upload and media URLs that local storage signs (what clients can reach).
    public_url: str | None = None  # default: FILES_URL
    url_secret: SecretStr | None = None  # signs local URLs; default: derived
    max_upload_bytes: int = 5 * 1024**3
    upload_url_ttl_seconds: int = 900
    playback_url_ttl_seconds: int = 3600
    s3: S3Settings = Field(default_factory=S3Settings)
    video_processor: Literal["local", "mux"] = "local"
    processing: ProcessingSettings = Field(default_factory=ProcessingSettings)
    mux: MuxSettings = Field(default_factory=MuxSettings, validation_alias="mux")

    def resolved_storage_dir(self, settings: Settings) -> Path:
        return self.storage_dir or settings.data_dir / "files"

    def resolved_public_url(self, settings: Settings) -> str:
        return self.public_url or settings.service_url("files")

    def url_key(self, settings: Settings) -> bytes:
        """The key that signs local upload and media URLs."""
        if self.url_secret is not None:
            return self.url_secret.get_secret_value().encode()
        secret = settings.service_secret_key.get_secret_value()
        # Production may leave SERVICE_SECRET_KEY at the development value when every
        # SERVICE_KEY_<NAME> is set; signed URLs need a real secret too.
        if settings.is_production and secret == DEV_SERVICE_SECRET:
            raise RuntimeError("FILES_URL_SECRET must be set in production")
        return settings.derived_key("files-urls")
