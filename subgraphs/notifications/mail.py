"""The mail sender: the only code that talks SMTP. It drains the mail outbox (`mails`).

A pass claims due PENDING mails with `FOR UPDATE SKIP LOCKED` and leases them (their
`next_attempt_at` moves a lease ahead, so a sender that dies mid-send leaves them due
again later, and other processes skip them meanwhile), commits, then sends each one
outside any transaction and records the outcome:

- accepted by the server → SENT;
- server unreachable, timeout, 4xx → PENDING again after an exponential backoff (capped,
  never given up: mail is never dropped);
- a permanent refusal (5xx) → retried too, FAILED with the server's reply after
  `mail_max_attempts`.

A stop (deploy, Ctrl-C) lets the mail in hand finish and be recorded first. The one
window for a duplicate: the server accepted a mail and this process died before SENT was
committed. The lease then runs out and the mail goes again, with the same
`Message-ID`, so a receiving system (or a person) can tell it is the same mail. The
window is the time between the server's `250` and one small UPDATE on the same
connection's pool; nothing else happens in between.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, getaddresses, parseaddr
from typing import Protocol

import aiosmtplib
from sqlalchemy import func, select, update

from coursegraph.background import PollingLoop
from coursegraph.db import Database
from coursegraph.log import get_logger
from coursegraph.outbox import backoff
from subgraphs.notifications.models import Mail, MailStatus
from subgraphs.notifications.settings import NotificationsSettings, SmtpSecurity

log = get_logger("coursegraph.notifications.mail")

BATCH = 20
# Lines up to RFC 5322's 998 characters: a long header such as List-Unsubscribe stays one
# line (at 78, Python folds a long URL into RFC 2047 encoded words, which breaks it).
WIRE_POLICY = policy.SMTP.clone(max_line_length=998)


class Transport(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


class SmtpTransport:
    """aiosmtplib, one connection per mail (mail volume here is small)."""

    def __init__(self, settings: NotificationsSettings) -> None:
        if settings.smtp_host is None:
            raise ValueError("SMTP_HOST is not set")
        self._settings = settings

    async def send(self, message: EmailMessage) -> None:
        s = self._settings
        recipients = [address for _, address in getaddresses(message.get_all("To", []))]
        await aiosmtplib.send(
            message.as_bytes(policy=WIRE_POLICY),
            sender=parseaddr(str(message["From"]))[1],
            recipients=recipients,
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            use_tls=s.smtp_security is SmtpSecurity.TLS,
            start_tls=s.smtp_security is SmtpSecurity.STARTTLS,
            timeout=s.smtp_timeout_seconds,
        )


def is_permanent(error: Exception) -> bool:
    """A 5xx reply (to the sender, the recipient or the data): the server will refuse
    this mail again."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return bool(error.recipients) and all(500 <= r.code < 600 for r in error.recipients)
    return isinstance(error, aiosmtplib.SMTPResponseException) and 500 <= error.code < 600


@dataclass(frozen=True, slots=True)
class Claimed:
    id: uuid.UUID
    attempts: int
    message: EmailMessage


def build_message(mail: Mail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = formataddr((mail.to_name, mail.to_address))
    message["Subject"] = mail.subject
    message["Message-ID"] = mail.message_id
    message["Date"] = format_datetime(mail.created_at)
    if mail.unsubscribe_url is not None:
        # RFC 8058: mail clients offer one-click unsubscribe with a POST to this URL.
        message["List-Unsubscribe"] = f"<{mail.unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(mail.text_body)
    message.add_alternative(mail.html_body, subtype="html")
    return message


class MailSender:
    def __init__(
        self, database: Database, transport: Transport, settings: NotificationsSettings
    ) -> None:
        self._db = database
        self._transport = transport
        self._settings = settings
        self._in_hand: asyncio.Task[None] | None = None
        self._loop = PollingLoop(
            "notifications-mail",
            self.send_due,
            batch=BATCH,
            poll_seconds=settings.mail_poll_seconds,
        )

    def start(self) -> None:
        self._loop.start()

    def wake(self) -> None:
        self._loop.wake()

    async def stop(self) -> None:
        await self._loop.stop()
        if self._in_hand is not None:
            await self._in_hand  # bounded by the SMTP timeout
            self._in_hand = None

    async def send_due(self) -> int:
        """One pass: up to BATCH mails, claimed one at a time, so a claim's lease only has
        to outlast one SMTP conversation; returns how many were tried."""
        tried = 0
        while tried < BATCH:
            mail = await self._claim()
            if mail is None:
                break
            # Shielded: stopping (a deploy, Ctrl-C) lets a mail in hand finish and be
            # recorded (`stop` waits for it) instead of cutting SMTP short, which would
            # send it again later.
            self._in_hand = asyncio.create_task(self._send(mail))
            await asyncio.shield(self._in_hand)
            tried += 1
        return tried

    async def _claim(self) -> Claimed | None:
        lease = timedelta(seconds=self._settings.mail_lease_seconds)
        async with self._db.transaction() as session:
            row = await session.scalar(
                select(Mail)
                .where(Mail.status == MailStatus.PENDING, Mail.next_attempt_at <= func.now())
                .order_by(Mail.next_attempt_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if row is None:
                return None
            claimed = Claimed(
                row.id, row.attempts + 1, build_message(row, self._settings.mail_from)
            )
            row.attempts = claimed.attempts
            row.next_attempt_at = datetime.now(UTC) + lease
        return claimed

    async def _send(self, mail: Claimed) -> None:
        try:
            await self._transport.send(mail.message)
        except Exception as error:
            await self._failed(mail, error)
            return
        async with self._db.transaction() as session:
            await session.execute(
                update(Mail)
                .where(Mail.id == mail.id)
                .values(status=MailStatus.SENT, sent_at=func.now(), last_error=None)
            )

    async def _failed(self, mail: Claimed, error: Exception) -> None:
        reason = f"{type(error).__name__}: {error}"[:2000]
        give_up = is_permanent(error) and mail.attempts >= self._settings.mail_max_attempts
        delay = backoff(mail.attempts, cap=self._settings.mail_max_backoff_seconds)
        log.warning(
            "mail not sent" + ("; giving up" if give_up else "; will retry"),
            mail_id=str(mail.id),
            attempts=mail.attempts,
            retry_in=None if give_up else round(delay, 1),
            error=reason,
        )
        values: dict[str, object] = {"last_error": reason}
        if give_up:
            values["status"] = MailStatus.FAILED
        else:
            values["next_attempt_at"] = datetime.now(UTC) + timedelta(seconds=delay)
        async with self._db.transaction() as session:
            await session.execute(update(Mail).where(Mail.id == mail.id).values(**values))
