"""The notifications subgraph's own settings: SMTP, sender address, links and the mail
sender loop. The kernel's `Settings` keeps ports, URLs, databases and secrets."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr

from coursegraph.settings import Section


class SmtpSecurity(StrEnum):
    STARTTLS = "starttls"  # plain connect, then STARTTLS (port 587)
    TLS = "tls"  # implicit TLS (port 465)
    NONE = "none"  # plain text: a local relay or the development sink only


class NotificationsSettings(Section):
    # No prefix: SMTP_HOST, MAIL_FROM, APP_PUBLIC_URL … as mail tools name them.

    # Unset: mails are written and wait in the outbox until a server is configured.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_security: SmtpSecurity = SmtpSecurity.STARTTLS
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(30.0, gt=0)
    mail_from: str = "Coursegraph <no-reply@coursegraph.localhost>"
    # Where people open links from mails (the web app) …
    app_public_url: str = "http://localhost:5173"
    # … and where this service's public routes (unsubscribe) are reached; default:
    # NOTIFICATIONS_URL.
    notifications_public_url: str | None = None
    # The mail sender: a permanent refusal (5xx) is tried this often before FAILED;
    # anything else (server down, 4xx) is retried without limit, the wait capped.
    mail_max_attempts: int = Field(5, ge=1)
    mail_max_backoff_seconds: float = Field(600.0, gt=0)
    mail_poll_seconds: float = Field(2.0, gt=0)
    # How long a claimed mail stays with its sender before another process may take it
    # (a sender that died mid-send): longer than any SMTP conversation.
    mail_lease_seconds: float = Field(120.0, gt=0)
    # Development only: the local SMTP sink `make dev` runs, and the Maildir it fills
    # (default: <data dir>/mailbox), which /dev/mailbox shows.
    mail_sink_port: int = 3025
    mailbox_dir: Path | None = None
