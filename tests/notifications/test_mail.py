"""The mail sender: SMTP down → mails wait and are sent once when it is back; a permanent
refusal → FAILED with the reason after the configured attempts."""

from __future__ import annotations

import asyncio

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.helpers import run_cli
from tests.notifications.conftest import Notify, eventually


async def test_mail_waits_while_smtp_is_down_and_goes_once_when_it_is_back(
    notify: Notify,
) -> None:
    notify.sink.stop()
    users = [await notify.register(f"User {n}") for n in range(3)]

    async def all_retrying() -> bool:
        for user, _ in users:
            rows = await notify.mail_rows(user)
            if len(rows) != 1 or rows[0].attempts < 2 or rows[0].status != "PENDING":
                return False
        return True

    await eventually(all_retrying, what="mails retried while SMTP is down")
    for user, _ in users:
        (row,) = await notify.mail_rows(user)
        assert row.last_error
    notify.sink.start()  # the same port and Maildir
    for user, _ in users:
        await notify.wait_sent(user, 1)
    # Later passes of the sender send nothing again.
    _, later = await notify.register("After")
    await notify.wait_mails(later, 1)
    for _, email in users:
        assert len(notify.mails(email)) == 1


class Refusing:
    """An SMTP server that refuses every recipient for good (550)."""

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        return "550 5.1.1 mailbox unavailable"


async def test_a_permanent_refusal_fails_after_the_attempts_with_the_reason(
    notify: Notify,
) -> None:
    notify.sink.stop()
    refusing = Controller(Refusing(), hostname="127.0.0.1", port=notify.sink.port)
    refusing.start()
    try:
        user, _ = await notify.register()

        async def failed() -> bool:
            rows = await notify.mail_rows(user)
            return len(rows) == 1 and rows[0].status == "FAILED"

        await eventually(failed, what="mail FAILED")
    finally:
        refusing.stop()
    (row,) = await notify.mail_rows(user)
    assert row.attempts == notify.section.mail_max_attempts
    assert row.last_error is not None
    assert "550" in row.last_error
    assert row.sent_at is None
    # Visible to operators, with the server's reason.
    listed = await asyncio.to_thread(run_cli, notify.settings, "notifications", "mails")
    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if str(row.id) in line)
    assert "WELCOME" in line
    assert "550" in line


async def test_the_message_id_is_the_mail_rows(notify: Notify) -> None:
    user, email = await notify.register()
    (mail,) = await notify.wait_mails(email, 1)
    (row,) = await notify.mail_rows(user)
    assert str(mail["Message-ID"]) == row.message_id
    assert row.message_id.startswith("<")
    assert row.message_id.endswith("@coursegraph.localhost>")
