"""The kernel's settings, read from the environment and `.env`, and the base of the
sections that subgraphs and their adapters declare for themselves.

Every process (router, subgraphs, CLI) reads the same variables; the README lists them.
`Settings` holds only what the kernel, the router and the launcher need (network, data,
service keys, identity); a subgraph's own variables live in its `settings.py` section,
loaded by `load_section`. Production refuses the development defaults of secrets.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, TypeVar, cast

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from coursegraph.cors import DEVELOPMENT_ORIGINS, parse_origins

# How long the event stream keeps events (EVENTS_RETENTION_DAYS): a durable consumer
# created later reads back this far, and the stream's disk use stays bounded.
DEFAULT_RETENTION_DAYS = 7

DEV_SERVICE_SECRET = "coursegraph-development-secret-change-me"
MIN_ROUTER_SECRET_LENGTH = 32

SUBGRAPHS: tuple[str, ...] = ("users", "courses", "payments", "files", "notifications")
# Services that may sign internal calls: the subgraphs and the router.
SERVICES: tuple[str, ...] = (*SUBGRAPHS, "router")


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


# Both read every variable and `.env`, ignoring what belongs to someone else.
_SOURCES = SettingsConfigDict(
    env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
)


class Settings(BaseSettings):
    model_config = _SOURCES

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
    # Connections each subgraph process keeps; up to as many more open under load, each
    # closed after it stays unused this many seconds (coursegraph/pool.py).
    database_pool_size: int = Field(10, ge=1)
    database_pool_idle_seconds: float = Field(5.0, gt=0)
    redis_url: str | None = None
    nats_url: str | None = None
    # Days the event stream keeps events; consumers keep their de-duplication rows twice that.
    events_retention_days: int = Field(DEFAULT_RETENTION_DAYS, ge=1)

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
    # Operations one subscription socket may have open at once (the router opens one
    # socket per client connection); the next `subscribe` is refused with RATE_LIMITED.
    subgraph_max_subscriptions_per_connection: int = Field(100, ge=1)
    service_timeout_seconds: float = 10.0

    # --- identity
    jwt_algorithm: Literal["RS256", "EdDSA"] = "RS256"
    jwt_issuer: str = "coursegraph-users"
    jwt_audience: str = "coursegraph"
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

    # --- development
    # The password of the demo accounts: the launcher seeds them with it and the router's
    # GraphiQL fills it into its sign-in tab (development data only).
    seed_password: SecretStr = SecretStr("coursegraph-demo")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(entry.strip() for entry in value.split(",") if entry.strip())
        if isinstance(value, list | tuple):
            parse_origins(value)  # a malformed entry fails at start-up, named
        return value

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


class Section(BaseSettings):
    """A subgraph's (or adapter's) own settings, from the same environment and `.env`.

    A nested model field reads the variables named `<FIELD>_<NAME>`: a `stripe` field
    holding `secret_key` reads STRIPE_SECRET_KEY (split once, at the first `_` after the
    field's name or alias). `env_prefix` or `validation_alias` keep the variable names the
    README lists; fields are also accepted by name in code and tests.
    """

    model_config = SettingsConfigDict(
        **_SOURCES, env_nested_delimiter="_", env_nested_max_split=1, populate_by_name=True
    )


S = TypeVar("S", bound=Section)
_sections: dict[type[Section], Section] = {}


def load_section(section: type[S]) -> S:
    """`section` read once per process, as `get_settings` reads `Settings`."""
    if section not in _sections:
        _sections[section] = section()
    return cast(S, _sections[section])
