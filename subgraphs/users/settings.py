"""The users subgraph's settings section: sign-in throttles and JWT signing keys."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from coursegraph.settings import Section, Settings


class UsersSettings(Section):
    # --- sign-in, registration and refresh throttles (throttle.py)
    login_max_failures_per_email: int = 5
    login_max_failures_per_address: int = 20
    register_max_per_address: int = 20
    # Window of every throttle count; default 900 s in production, 60 s elsewhere, so a
    # developer trying wrong passwords is not locked out for long.
    login_failure_window_seconds: int | None = Field(default=None, gt=0)

    # --- signing keys (keys.py); the algorithm is the kernel's, as every verifier checks it
    jwt_keys_dir: Path | None = None  # default: data_dir / "jwt-keys"
    jwt_keys_kept: int = 3  # signing keys kept published in the JWKS after rotation

    def throttle_window_seconds(self, settings: Settings) -> int:
        if self.login_failure_window_seconds is not None:
            return self.login_failure_window_seconds
        return 900 if settings.is_production else 60

    def keys_dir(self, settings: Settings) -> Path:
        return self.jwt_keys_dir or settings.data_dir / "jwt-keys"
