"""One-click unsubscribe (RFC 8058): GET only shows a page, POST switches that category's
email off; a changed token is refused; transactional mail has no link at all."""

from __future__ import annotations

import re

import httpx

from tests.notifications.conftest import Notify

PREFERENCES = "{ notificationPreferences { category email inApp transactional } }"


def _link(header: str) -> str:
    found = re.fullmatch(r"<(.+)>", header)
    assert found is not None, header
    return found.group(1)


async def _token(notify: Notify) -> tuple[str, str, str]:
    user, email = await notify.register()
    (welcome,) = await notify.wait_mails(email, 1)
    url = httpx.URL(_link(str(welcome["List-Unsubscribe"])))
    return user, email, str(url.params["token"])


async def _preferences(notify: Notify, user: str) -> dict[str, tuple[bool, bool]]:
    result = await notify.gql(PREFERENCES, token=notify.token(user))
    return {p["category"]: (p["email"], p["inApp"]) for p in result.ok()["notificationPreferences"]}


async def test_get_shows_a_confirmation_and_changes_nothing(notify: Notify) -> None:
    user, _, token = await _token(notify)
    async with httpx.AsyncClient() as client:
        page = await client.get(f"{notify.url}/unsubscribe", params={"token": token})
    assert page.status_code == 200
    assert 'method="post"' in page.text
    assert "account" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert (await _preferences(notify, user))["ACCOUNT"] == (True, True)


async def test_one_click_post_switches_that_email_off(notify: Notify) -> None:
    user, _, token = await _token(notify)
    async with httpx.AsyncClient() as client:
        done = await client.post(
            f"{notify.url}/unsubscribe",
            params={"token": token},
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert done.status_code == 200
    preferences = await _preferences(notify, user)
    assert preferences["ACCOUNT"] == (False, True)
    assert preferences["LEARNING"] == (True, True)
    # Again: still off, still fine.
    async with httpx.AsyncClient() as client:
        again = await client.post(f"{notify.url}/unsubscribe", params={"token": token})
    assert again.status_code == 200


async def test_a_tampered_token_is_refused(notify: Notify) -> None:
    user, _, token = await _token(notify)
    version, user_id, category, signature = token.split(".")
    other_user = "00000000-0000-4000-8000-000000000000"
    tampered = [
        f"{version}.{user_id}.{category}.{signature[:-1]}{'0' if signature[-1] != '0' else '1'}",
        f"{version}.{other_user}.{category}.{signature}",
        f"{version}.{user_id}.LEARNING.{signature}",
        f"{version}.{user_id}.PAYMENTS.{signature}",
        f"2.{user_id}.{category}.{signature}",
        "",
        "garbage",
    ]
    async with httpx.AsyncClient() as client:
        for bad in tampered:
            refused = await client.post(f"{notify.url}/unsubscribe", params={"token": bad})
            assert refused.status_code == 400, bad
            shown = await client.get(f"{notify.url}/unsubscribe", params={"token": bad})
            assert shown.status_code == 400, bad
    assert (await _preferences(notify, user))["ACCOUNT"] == (True, True)


async def test_transactional_mail_keeps_coming_after_unsubscribing(notify: Notify) -> None:
    user, email, token = await _token(notify)
    async with httpx.AsyncClient() as client:
        await client.post(f"{notify.url}/unsubscribe", params={"token": token})
    await notify.publish(
        "payment.refunded",
        {
            "paymentId": "p-1",
            "userId": user,
            "courseId": "c-1",
            "refundId": "r-1",
            "amountMinor": 1000,
            "currency": "EUR",
        },
    )
    mails = await notify.wait_mails(email, 2)
    refund = next(m for m in mails if m["Subject"] == "Your refund")
    assert refund["List-Unsubscribe"] is None
    assert "10.00 EUR" in refund.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
