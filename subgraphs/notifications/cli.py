"""`coursegraph notifications …`: the development mail sink and a look at the mail
outbox (FAILED mails with the server's reason)."""

from __future__ import annotations

import asyncio
import signal
import threading
from pathlib import Path

import click
from sqlalchemy import select

from coursegraph.database import ensure_database
from coursegraph.settings import Settings, get_settings, load_section
from subgraphs.notifications.bootstrap import bootstrap, mailbox_dir
from subgraphs.notifications.models import Mail, MailStatus
from subgraphs.notifications.settings import NotificationsSettings
from subgraphs.notifications.sink import MailSink


@click.group("notifications")
def command() -> None:
    """Notifications: mail outbox and the development mail sink."""


@command.command("mail-sink")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="Default: MAIL_SINK_PORT (3025).")
@click.option(
    "--maildir",
    type=click.Path(path_type=Path),
    default=None,
    help="Default: MAILBOX_DIR, else <data dir>/mailbox.",
)
def mail_sink(host: str, port: int | None, maildir: Path | None) -> None:
    """Run a local SMTP server that keeps every mail (development only) until stopped."""
    settings = get_settings()
    if settings.is_production:
        raise click.ClickException("The mail sink is for development, not production.")
    section = load_section(NotificationsSettings)
    folder = maildir or mailbox_dir(settings, section)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    with MailSink(folder, host=host, port=port or section.mail_sink_port) as sink:
        click.echo(f"mail sink on smtp://{sink.host}:{sink.port}, keeping mail in {folder}")
        stopped.wait()


@command.command("mails")
@click.option(
    "--status",
    type=click.Choice([s.value for s in MailStatus]),
    default=MailStatus.FAILED.value,
    show_default=True,
)
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
def mails(status: str, limit: int) -> None:
    """List mails of the outbox in one status, newest first, with their last error."""
    settings, embedded = ensure_database(get_settings())
    try:
        for line in asyncio.run(_mail_lines(settings, status, limit)):
            click.echo(line)
    finally:
        if embedded is not None:
            embedded.stop()


async def _mail_lines(settings: Settings, status: str, limit: int) -> list[str]:
    async with (
        bootstrap(settings, background=False) as container,
        container.database.read() as session,
    ):
        rows = (
            await session.scalars(
                select(Mail)
                .where(Mail.status == status)
                .order_by(Mail.created_at.desc())
                .limit(limit)
            )
        ).all()
    return [
        f"{row.id}  {row.created_at:%Y-%m-%d %H:%M}  {row.kind:<20} {row.to_address}  "
        f"attempts={row.attempts}" + (f"  error={row.last_error}" if row.last_error else "")
        for row in rows
    ]
