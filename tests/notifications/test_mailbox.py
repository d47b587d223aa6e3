"""The development mailbox page: what the SMTP sink kept, listed and shown, escaped."""

from __future__ import annotations

import httpx

from tests.notifications.conftest import Notify


async def test_the_mailbox_lists_and_shows_mail_escaped(notify: Notify) -> None:
    _, email = await notify.register("Eve <script>alert(1)</script>")
    await notify.wait_mails(email, 1)
    async with httpx.AsyncClient() as client:
        listing = await client.get(f"{notify.url}/dev/mailbox")
        assert listing.status_code == 200
        assert "Welcome to Coursegraph" in listing.text
        assert "<script>" not in listing.text
        (link,) = [part.split('"')[0] for part in listing.text.split('href="/dev/mailbox/')[1:]]
        shown = await client.get(f"{notify.url}/dev/mailbox/{link}")
        missing = await client.get(f"{notify.url}/dev/mailbox/no-such-mail")
    assert shown.status_code == 200
    assert "<script>" not in shown.text
    assert "&lt;script&gt;" in shown.text
    assert "<iframe sandbox srcdoc=" in shown.text
    assert "default-src 'none'" in shown.headers["content-security-policy"]
    assert missing.status_code == 404
