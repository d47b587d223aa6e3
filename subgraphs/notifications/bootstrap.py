"""The notifications subgraph's composition root: wired once, in the app's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from coursegraph.consumers import EventConsumer
from coursegraph.db import Database, service_database
from coursegraph.events import connect_bus
from coursegraph.live import LiveFeed
from coursegraph.log import get_logger
from coursegraph.outbox import OutboxRelay
from coursegraph.settings import DEV_SERVICE_SECRET, Settings, load_section
from subgraphs.notifications.clients import UsersClient
from subgraphs.notifications.consumers import NotificationConsumer
from subgraphs.notifications.mail import MailSender, SmtpTransport, Transport
from subgraphs.notifications.messages import TEMPLATES, MailTemplates
from subgraphs.notifications.models import outbox, processed_events
from subgraphs.notifications.service import LIVE_KEYS, NotificationService
from subgraphs.notifications.settings import NotificationsSettings
from subgraphs.notifications.unsubscribe import KEY_PURPOSE, UnsubscribeLinks

log = get_logger("coursegraph.notifications")


@dataclass
class NotificationsContainer:
    database: Database
    notifications: NotificationService
    links: UnsubscribeLinks
    users: UsersClient
    consumer: EventConsumer
    relay: OutboxRelay
    live: LiveFeed
    # None while SMTP_HOST is unset: mails wait in the outbox.
    sender: MailSender | None
    pages: Environment
    # The development sink's Maildir that /dev/mailbox shows; None in production.
    mailbox_dir: Path | None


def mailbox_dir(settings: Settings, section: NotificationsSettings) -> Path:
    return section.mailbox_dir or settings.data_dir / "mailbox"


def _mail_domain(sender: str) -> str:
    _, address = parseaddr(sender)
    return address.rpartition("@")[2] or "coursegraph.localhost"


@asynccontextmanager
async def bootstrap(
    settings: Settings,
    *,
    section: NotificationsSettings | None = None,
    transport: Transport | None = None,
    background: bool = True,
) -> AsyncIterator[NotificationsContainer]:
    """`transport`: how mail leaves (default: SMTP from the settings section);
    `background=False`: neither the consumer nor the sender runs (commands, tests)."""
    section = section or load_section(NotificationsSettings)
    if settings.is_production and settings.service_secret_key.get_secret_value() == (
        DEV_SERVICE_SECRET
    ):
        # Unsubscribe links are signed with a key derived from it.
        raise RuntimeError("SERVICE_SECRET_KEY must be set in production (it signs mail links)")
    database = service_database(settings, "notifications")
    public_url = section.notifications_public_url or settings.service_url("notifications")
    links = UnsubscribeLinks(settings.derived_key(KEY_PURPOSE), public_url)
    bus = await connect_bus(settings)
    relay = OutboxRelay(database, outbox, bus)
    live = LiveFeed(LIVE_KEYS, nats_url=settings.nats_url, name="notifications-live")
    notifications = NotificationService(
        database,
        MailTemplates(section.app_public_url),
        links,
        _mail_domain(section.mail_from),
        live,
        on_event=relay.wake,
    )
    users = UsersClient.from_settings(settings)
    handler = NotificationConsumer(notifications, users)
    consumer = EventConsumer(
        handler.spec(),
        database,
        processed_events,
        nats_url=settings.nats_url,
        retention_days=settings.events_retention_days,
    )
    if transport is None and section.smtp_host is not None:
        transport = SmtpTransport(section)
    sender = MailSender(database, transport, section) if transport is not None else None
    pages = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
    )
    if background:
        await live.start()
        relay.start()
        await consumer.start()
        if sender is not None:
            sender.start()
        else:
            log.warning("SMTP_HOST is not set: mails are kept and sent once it is")
    try:
        yield NotificationsContainer(
            database=database,
            notifications=notifications,
            links=links,
            users=users,
            consumer=consumer,
            relay=relay,
            live=live,
            sender=sender,
            pages=pages,
            mailbox_dir=None if settings.is_production else mailbox_dir(settings, section),
        )
    finally:
        if sender is not None:
            await sender.stop()
        await consumer.stop()
        await relay.stop()
        await live.stop()
        await bus.close()
        await users.aclose()
        await database.dispose()
