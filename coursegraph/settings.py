"""The one settings object of Coursegraph, read from the environment and `.env`.

Every process (router, subgraphs, CLI) reads the same variables; the README lists them.
Production refuses the development defaults of secrets.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from coursegraph.cors import DEVELOPMENT_ORIGINS, parse_origins

DEV_SERVICE_SECRET = "coursegraph-development-secret-change-me"
DEV_SANDBOX_WEBHOOK_SECRET = "coursegraph-sandbox-webhook-secret"
MIN_ROUTER_SECRET_LENGTH = 32

SUBGRAPHS: tuple[str, ...] = ("users", "courses", "payments", "files", "notifications")
# Services that may sign internal calls: the subgraphs and the router.
SERVICES: tuple[str, ...] = (*SUBGRAPHS, "router")


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    environment: Environment = Field(Environment.DEVELOPMENT, alias="COURSEGRAPH_ENV")
    data_dir: Path = Field(Path(".coursegraph"), alias="COURSEGRAPH_DATA_DIR")
    log_level: str = "INFO"
    log_format: Literal["console", "json"] = "console"

    # --- network
    host: str = "127.0.0.1"
    router_port: int = 3000
    users_port: int = 3001
    courses_port: int = 3002
    payments_port: int = 3003
    files_port: int = 3008
    notifications_port: int = 3004
    # `coursegraph dev`'s NATS server (client port, and the monitoring port it is checked on).
    nats_port: int = 3006
    nats_monitor_port: int = 3007
    # Worker processes of `serve` and `router` (each its own event loop and core).
    # Default: one outside production, one per CPU in production.
    workers: int | None = Field(default=None, ge=1)
    # Where subgraphs reach each other; default: 127.0.0.1 and the ports above.
    users_url: str | None = None
    courses_url: str | None = None
    payments_url: str | None = None
    files_url: str | None = None
    notifications_url: str | None = None

    # Browser origins that may call the router and files' upload and media URLs (CORS),
    # comma separated; `*` as port or leftmost label. Unset: DEVELOPMENT_ORIGINS in
    # development, none elsewhere; empty: none.
    cors_origins: Annotated[tuple[str, ...] | None, NoDecode] = None
    # Production answers introspection and serves GraphiQL only when this is true (and
    # router.yaml enables them); outside production router.yaml alone decides.
    router_expose_schema_in_production: bool = False

    # --- data
    database_url: str | None = None  # unset: embedded PostgreSQL under data_dir
    users_database_url: str | None = None
    courses_database_url: str | None = None
    payments_database_url: str | None = None
    files_database_url: str | None = None
    notifications_database_url: str | None = None
    database_pool_size: int = 10
    redis_url: str | None = None
    nats_url: str | None = None

    # --- service-to-service HMAC
    service_secret_key: SecretStr = SecretStr(DEV_SERVICE_SECRET)
    service_key_users: SecretStr | None = None
    service_key_courses: SecretStr | None = None
    service_key_payments: SecretStr | None = None
    service_key_files: SecretStr | None = None
    service_key_notifications: SecretStr | None = None
    service_key_router: SecretStr | None = None
    service_auth_max_skew_seconds: int = 300
    # What a third-party router (Hive Gateway, Apollo Router) sends in X-Router-Credential
    # to call the subgraphs as `router`; unset: only HMAC-signed calls reach GraphQL.
    router_shared_secret: SecretStr | None = None
    # Largest GraphQL request body a subgraph reads (413 beyond, before buffering). Above
    # the router's client cap (1 MB): its entity fetches for a large page carry many
    # representations.
    subgraph_max_body_bytes: int = Field(4 * 1024**2, ge=1)
    service_timeout_seconds: float = 10.0

    # --- identity
    jwt_algorithm: Literal["RS256", "EdDSA"] = "RS256"
    jwt_issuer: str = "coursegraph-users"
    jwt_audience: str = "coursegraph"
    jwt_keys_dir: Path | None = None  # default: data_dir / "jwt-keys"
    jwt_keys_kept: int = 3  # signing keys kept published in the JWKS after rotation
    jwks_url: str | None = None  # default: users_url + /.well-known/jwks.json
    jwks_min_refresh_seconds: float = 10.0
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    jwt_leeway_seconds: int = 30
    # How often every verifier asks users for revoked tokens (role changes, deleted
    # accounts): the bound on how long such a token keeps working, plus one request.
    token_revocation_poll_seconds: float = Field(default=30.0, ge=0)
    # Verified access tokens each process remembers until they expire (0: none).
    token_cache_size: int = Field(default=10_000, ge=0)

    # --- sign-in, registration and refresh throttles (subgraphs/users/throttle.py)
    login_max_failures_per_email: int = 5
    login_max_failures_per_address: int = 20
    register_max_per_address: int = 20
    # Window of every throttle count; default 900 s in production, 60 s elsewhere, so a
    # developer trying wrong passwords is not locked out for long.
    login_failure_window_seconds: int | None = Field(default=None, gt=0)

    # --- payments
    # Public address of payments, used in the sandbox checkout URL and as the target of
    # sandbox webhooks; default: PAYMENTS_URL.
    payments_public_url: str | None = None
    # A provider is offered only when configured: Stripe needs its secret key, Razorpay
    # its key id and secret; the built-in sandbox is on unless production (or set false).
    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_base: str = "https://api.stripe.com"
    razorpay_key_id: str | None = None
    razorpay_key_secret: SecretStr | None = None
    razorpay_webhook_secret: SecretStr | None = None
    razorpay_api_base: str = "https://api.razorpay.com"
    sandbox_enabled: bool | None = None
    sandbox_webhook_secret: SecretStr = SecretStr(DEV_SANDBOX_WEBHOOK_SECRET)
    sandbox_checkout_ttl_seconds: int = 3600
    refund_window_days: int = 30
    # The payments reconciler's periodic run (0: off) and how old a row must be first.
    payments_reconcile_interval_seconds: float = 300.0
    payments_reconcile_grace_seconds: float = 120.0
    # Seconds a signed webhook stays acceptable (Stripe's and the sandbox's `t=`).
    webhook_tolerance_seconds: int = 300

    # --- courses
    courses_max_page_size: int = 100  # largest `first` that `courses(...)` accepts
    # Largest lecture video courses asks files to accept; files applies its own limit too.
    courses_max_video_bytes: int = 5 * 1024**3
    # The password `coursegraph seed` gives demo accounts (development data only).
    seed_password: SecretStr = SecretStr("coursegraph-demo")

    # --- files
    files_storage: Literal["local", "s3"] = "local"
    files_storage_dir: Path | None = None  # local storage; default: data_dir / "files"
    # Base of the upload and media URLs that local storage signs (what clients can reach).
    files_public_url: str | None = None  # default: files_url
    files_url_secret: SecretStr | None = None  # signs local URLs; default: derived
    files_max_upload_bytes: int = 5 * 1024**3
    files_upload_url_ttl_seconds: int = 900
    files_playback_url_ttl_seconds: int = 3600
    files_s3_bucket: str = "coursegraph-files"
    files_s3_endpoint_url: str | None = None  # unset: AWS; set for MinIO, moto, R2 …
    files_s3_region: str = "us-east-1"
    files_s3_access_key_id: SecretStr | None = None  # unset: boto3's credential chain
    files_s3_secret_access_key: SecretStr | None = None
    files_video_processor: Literal["local", "mux"] = "local"
    files_processing_poll_seconds: float = 2.0
    files_processing_max_attempts: int = 5
    mux_api_url: str = "https://api.mux.com"
    mux_token_id: SecretStr | None = None
    mux_token_secret: SecretStr | None = None
    mux_webhook_secret: SecretStr | None = None
    mux_webhook_tolerance_seconds: int = 300
    mux_signing_key_id: str | None = None
    mux_signing_private_key: SecretStr | None = None  # PEM, or base64 of it as Mux shows it
    mux_stream_url: str = "https://stream.mux.com"
    mux_image_url: str = "https://image.mux.com"

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(entry.strip() for entry in value.split(",") if entry.strip())
        if isinstance(value, list | tuple):
            parse_origins(value)  # a malformed entry fails at start-up, named
        return value

    @model_validator(mode="after")
    def _refuse_default_files_secret(self) -> Settings:
        # Derived from SERVICE_SECRET_KEY, which production may leave at the development
        # value when every SERVICE_KEY_<NAME> is set; signed URLs need a real secret too.
        if (
            self.environment is Environment.PRODUCTION
            and self.files_url_secret is None
            and self.service_secret_key.get_secret_value() == DEV_SERVICE_SECRET
            and all(self._explicit_key(name) is not None for name in SERVICES)
        ):
            raise ValueError("FILES_URL_SECRET must be set in production")
        return self

    def files_url_key(self) -> bytes:
        """The key that signs local upload and media URLs."""
        if self.files_url_secret is not None:
            return self.files_url_secret.get_secret_value().encode()
        return self.derived_key("files-urls")

    def derived_key(self, purpose: str) -> bytes:
        """A key of its own for one purpose (signed URLs, links in mails), derived from
        SERVICE_SECRET_KEY: one secret, no key shared between purposes."""
        secret = self.service_secret_key.get_secret_value().encode()
        return hmac.new(secret, f"coursegraph-{purpose}".encode(), hashlib.sha256).digest()

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if (
            self.environment is Environment.PRODUCTION
            and self.service_secret_key.get_secret_value() == DEV_SERVICE_SECRET
            and any(self._explicit_key(name) is None for name in SERVICES)
        ):
            raise ValueError(
                "SERVICE_SECRET_KEY is the development default: set it (or every "
                "SERVICE_KEY_<NAME>) in production"
            )
        return self

    @model_validator(mode="after")
    def _refuse_weak_router_secret(self) -> Settings:
        # A bearer credential that lets its holder act as the router: never guessable.
        secret = self.router_shared_secret
        if secret is not None and len(secret.get_secret_value()) < MIN_ROUTER_SECRET_LENGTH:
            raise ValueError(
                f"ROUTER_SHARED_SECRET needs at least {MIN_ROUTER_SECRET_LENGTH} characters "
                "(e.g. `openssl rand -hex 32`)"
            )
        return self

    # ---------------------------------------------------------------- derived values
    def _explicit_key(self, service: str) -> SecretStr | None:
        value: SecretStr | None = getattr(self, f"service_key_{service}", None)
        return value

    def service_key(self, service: str) -> bytes:
        """The HMAC key of `service`: its own `SERVICE_KEY_<NAME>`, else derived."""
        if service not in SERVICES:
            raise KeyError(service)
        explicit = self._explicit_key(service)
        if explicit is not None:
            return explicit.get_secret_value().encode()
        secret = self.service_secret_key.get_secret_value().encode()
        return hmac.new(secret, f"coursegraph-service:{service}".encode(), hashlib.sha256).digest()

    @property
    def resolved_workers(self) -> int:
        if self.workers is not None:
            return self.workers
        if not self.is_production:
            return 1
        # The CPUs this process may run on (a cpuset), not all the machine has.
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1

    def port(self, service: str) -> int:
        port: int = getattr(self, f"{service}_port")
        return port

    def service_url(self, service: str) -> str:
        explicit: str | None = getattr(self, f"{service}_url", None)
        return (explicit or f"http://127.0.0.1:{self.port(service)}").rstrip("/")

    def database_url_for(self, subgraph: str) -> str:
        url: str | None = getattr(self, f"{subgraph}_database_url", None) or self.database_url
        if not url:
            raise RuntimeError(
                "DATABASE_URL is not set; `coursegraph dev` starts an embedded PostgreSQL"
            )
        return url

    @property
    def resolved_jwks_url(self) -> str:
        return self.jwks_url or f"{self.service_url('users')}/.well-known/jwks.json"

    @property
    def resolved_jwt_keys_dir(self) -> Path:
        return self.jwt_keys_dir or self.data_dir / "jwt-keys"

    @property
    def resolved_payments_public_url(self) -> str:
        return (self.payments_public_url or self.service_url("payments")).rstrip("/")

    @property
    def throttle_window_seconds(self) -> int:
        if self.login_failure_window_seconds is not None:
            return self.login_failure_window_seconds
        return 900 if self.is_production else 60

    @property
    def sandbox_is_enabled(self) -> bool:
        if self.sandbox_enabled is None:
            return not self.is_production
        return self.sandbox_enabled

    @property
    def resolved_cors_origins(self) -> tuple[str, ...]:
        if self.cors_origins is not None:
            return self.cors_origins
        return DEVELOPMENT_ORIGINS if self.environment is Environment.DEVELOPMENT else ()

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
