"""Notifications under test: the real subgraph in a server thread, consuming from a real
NATS JetStream (tests/services.py), sending through a real SMTP sink (aiosmtpd, on a free
port, its own Maildir per test), users for the JWKS and for accounts it was not told of."""

from __future__ import annotations

import asyncio
import mailbox
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.applications import Starlette

from coursegraph.db import Database, create_engine
from coursegraph.events import Event, NatsBus, encode, subject
from coursegraph.identity import scope_claim
from coursegraph.settings import Settings
from coursegraph.testing import ServerThread
from subgraphs.notifications.app import create_app
from subgraphs.notifications.models import Mail, Notification
from subgraphs.notifications.settings import NotificationsSettings, SmtpSecurity
from subgraphs.notifications.sink import MailSink
from subgraphs.users.app import create_app as create_users_app
from subgraphs.users.bootstrap import key_store
from subgraphs.users.keys import KeyStore
from subgraphs.users.settings import UsersSettings
from tests.e2e.stack import free_ports
from tests.helpers import GraphQLResult, gql


async def eventually(
    check: Callable[[], Awaitable[bool]], within: float = 90.0, what: str = "condition"
) -> None:
    """Wait until `check` holds (consumer and mail sender work in the background)."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached")
        await asyncio.sleep(0.05)


def read_maildir(folder: Path) -> list[EmailMessage]:
    if not (folder / "new").is_dir():
        return []
    box = mailbox.Maildir(folder, factory=None, create=False)
    found = []
    for key in box.iterkeys():
        parsed = message_from_bytes(box.get_bytes(key), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        found.append(parsed)
    return found


@dataclass
class Notify:
    """One test's notifications service and what it talks to."""

    settings: Settings
    section: NotificationsSettings
    sink: MailSink
    bus: NatsBus
    keys: KeyStore
    database: Database
    server: ServerThread | None = None
    app: Starlette | None = None
    published: list[Event] = field(default_factory=list)

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    @property
    def graphql(self) -> str:
        return f"{self.url}/graphql"

    def start(self) -> None:
        assert self.server is None
        self.app = create_app(self.settings, self.section)
        self.server = ServerThread(self.app).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def token(self, user_id: str, role: str = "STUDENT") -> str:
        return self.keys.sign(
            {"sub": user_id, "role": role, "scope": scope_claim(role)},
            issuer=self.settings.jwt_issuer,
            audience=self.settings.jwt_audience,
            ttl_seconds=300,
        )

    async def publish(
        self, topic: str, payload: dict[str, Any], *, event_id: str | None = None
    ) -> Event:
        event = Event(id=event_id or str(uuid.uuid4()), topic=topic, payload=payload)
        await self.bus.publish(event)
        self.published.append(event)
        return event

    async def publish_again(self, event: Event) -> None:
        """The same event once more, past JetStream's own de-duplication (another
        Nats-Msg-Id), as a producer's outbox retry after the window would send it."""
        await self.bus.publish_raw(
            subject(event.topic), encode(event), {"Nats-Msg-Id": str(uuid.uuid4())}
        )

    async def register(self, name: str = "Ada", role: str = "STUDENT") -> tuple[str, str]:
        """A user notifications heard of through `user.registered`: (id, email)."""
        user_id = str(uuid.uuid4())
        email = f"{user_id[:8]}@example.com"
        await self.publish(
            "user.registered", {"userId": user_id, "email": email, "name": name, "role": role}
        )
        return user_id, email

    def mails(self, to: str | None = None) -> list[EmailMessage]:
        found = read_maildir(self.sink.maildir)
        return [m for m in found if to is None or to in str(m["To"])]

    async def notifications(self, user_id: str) -> list[Notification]:
        async with self.database.read() as session:
            rows = await session.scalars(
                select(Notification)
                .where(Notification.user_id == uuid.UUID(user_id))
                .order_by(Notification.created_at)
            )
            return list(rows.all())

    async def mail_rows(self, user_id: str) -> list[Mail]:
        async with self.database.read() as session:
            rows = await session.scalars(
                select(Mail).where(Mail.user_id == uuid.UUID(user_id)).order_by(Mail.created_at)
            )
            return list(rows.all())

    async def wait_mails(self, to: str, count: int) -> list[EmailMessage]:
        async def arrived() -> bool:
            return len(self.mails(to)) >= count

        await eventually(arrived, what=f"{count} mail(s) to {to}")
        return self.mails(to)

    async def wait_sent(self, user_id: str, count: int) -> list[Mail]:
        """The user's mail rows once `count` are SENT (the sink has them a moment before
        the sender records it)."""

        async def sent() -> bool:
            rows = await self.mail_rows(user_id)
            return sum(r.status == "SENT" for r in rows) >= count

        await eventually(sent, what=f"{count} mail(s) SENT for {user_id}")
        return await self.mail_rows(user_id)

    async def wait_notifications(self, user_id: str, count: int) -> list[Notification]:
        async def arrived() -> bool:
            return len(await self.notifications(user_id)) >= count

        await eventually(arrived, what=f"{count} notification(s) for {user_id}")
        return await self.notifications(user_id)

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> GraphQLResult:
        return await gql(self.graphql, query, variables, token=token)


@pytest.fixture(scope="session")
def users_server(settings: Settings, users_section: UsersSettings) -> Iterator[ServerThread]:
    with ServerThread(create_users_app(settings, users_section)) as server:
        yield server


@pytest.fixture
async def notify(
    clean_database: None,
    settings: Settings,
    nats_url: str,
    users_server: ServerThread,
    users_section: UsersSettings,
    tmp_path: Path,
) -> AsyncIterator[Notify]:
    """A started notifications service; `notify.stop()` / `start()` restart it."""
    (sink_port,) = free_ports(1)
    sink = MailSink(tmp_path / "mailbox", port=sink_port).start()
    section = NotificationsSettings(
        _env_file=None,
        smtp_host="127.0.0.1",
        smtp_port=sink_port,
        smtp_security=SmtpSecurity.NONE,
        smtp_timeout_seconds=5,
        app_public_url="https://app.example.com",
        mail_poll_seconds=0.1,
        mail_max_backoff_seconds=0.5,
        mail_max_attempts=3,
        mailbox_dir=sink.maildir,
    )
    notify_settings = settings.model_copy(
        update={"nats_url": nats_url, "users_url": users_server.url}
    )
    keys = key_store(notify_settings, users_section)
    keys.load(create=False)
    bus = await NatsBus.connect(nats_url, name="notifications-tests")
    database = Database(create_engine(settings.database_url_for("notifications"), pool_size=2))
    running = Notify(notify_settings, section, sink, bus, keys, database)
    running.start()
    try:
        yield running
    finally:
        running.stop()
        sink.stop()
        await bus.close()
        await database.dispose()
