"""The GraphQL API: a user's notifications (pages, unread, totals), marking them read,
preferences; nothing of another user's is visible or markable."""

from __future__ import annotations

import uuid

from tests.notifications.conftest import Notify

INBOX = """
query($r: [_Any!]!, $first: Int, $after: String, $unreadOnly: Boolean) {
  _entities(representations: $r) {
    ... on User {
      unreadNotificationCount
      notifications(first: $first, after: $after, unreadOnly: $unreadOnly) {
        totalCount
        pageInfo { hasNextPage endCursor }
        edges { cursor node { id kind } }
        nodes { id kind category title body url readAt read courseTitle
                amount { amount currency } course { id } payment { id } }
      }
    }
  }
}"""
MARK = "mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) { id readAt read } }"
MARK_ALL = "mutation { markAllNotificationsRead }"
UPDATE = """mutation($i: UpdateNotificationPreferencesInput!) {
  updateNotificationPreferences(input: $i) { category email inApp transactional } }"""


def _user(user: str) -> list[dict[str, str]]:
    return [{"__typename": "User", "id": user}]


async def _inbox_user(notify: Notify, receipts: int) -> str:
    user, _ = await notify.register()
    for n in range(receipts):
        await notify.publish(
            "payment.succeeded",
            {
                "paymentId": f"pay-{n}",
                "userId": user,
                "courseId": "course-1",
                "amountMinor": 1000 + n,
                "currency": "USD",
                "provider": "SANDBOX",
            },
        )
    await notify.wait_notifications(user, receipts + 1)
    return user


async def test_pages_newest_first_with_totals_and_unread_count(notify: Notify) -> None:
    user = await _inbox_user(notify, 4)
    token = notify.token(user)
    first = await notify.gql(INBOX, {"r": _user(user), "first": 2}, token=token)
    me = first.ok()["_entities"][0]
    page = me["notifications"]
    assert me["unreadNotificationCount"] == 5
    assert page["totalCount"] == 5
    assert page["pageInfo"]["hasNextPage"] is True
    assert [n["amount"]["amount"] for n in page["nodes"]] == ["10.03", "10.02"]
    assert page["nodes"][0]["payment"] == {"id": "pay-3"}
    assert page["nodes"][0]["url"] == "https://app.example.com/courses/course-1"
    seen = [n["id"] for n in page["nodes"]]
    after = page["pageInfo"]["endCursor"]
    rest = await notify.gql(INBOX, {"r": _user(user), "first": 10, "after": after}, token=token)
    more = rest.ok()["_entities"][0]["notifications"]
    assert more["pageInfo"]["hasNextPage"] is False
    assert [n["kind"] for n in more["nodes"]] == ["PAYMENT_RECEIPT"] * 2 + ["WELCOME"]
    assert not set(seen) & {n["id"] for n in more["nodes"]}


async def test_marking_read_is_the_viewers_alone(notify: Notify) -> None:
    user = await _inbox_user(notify, 2)
    other = await _inbox_user(notify, 1)
    token = notify.token(user)
    mine = (await notify.gql(INBOX, {"r": _user(user)}, token=token)).ok()
    my_ids = [n["id"] for n in mine["_entities"][0]["notifications"]["nodes"]]
    theirs = (await notify.gql(INBOX, {"r": _user(other)}, token=notify.token(other))).ok()
    their_ids = [n["id"] for n in theirs["_entities"][0]["notifications"]["nodes"]]

    marked = await notify.gql(
        MARK, {"ids": [my_ids[0], their_ids[0], str(uuid.uuid4())]}, token=token
    )
    result = marked.ok()["markNotificationsRead"]
    assert [n["id"] for n in result] == [my_ids[0]]
    assert result[0]["read"] is True
    unread = await notify.gql(INBOX, {"r": _user(user), "unreadOnly": True}, token=token)
    page = unread.ok()["_entities"][0]
    assert page["unreadNotificationCount"] == 2
    assert page["notifications"]["totalCount"] == 2
    assert my_ids[0] not in [n["id"] for n in page["notifications"]["nodes"]]
    # The other user's notification is untouched …
    again = (await notify.gql(INBOX, {"r": _user(other)}, token=notify.token(other))).ok()
    assert again["_entities"][0]["unreadNotificationCount"] == 2
    # … and their inbox is not readable by this viewer, nor by an ADMIN.
    refused = await notify.gql(INBOX, {"r": _user(other)}, token=token)
    assert refused.code == "FORBIDDEN"
    admin = await notify.gql(INBOX, {"r": _user(other)}, token=notify.token(user, "ADMIN"))
    assert admin.code == "FORBIDDEN"

    all_marked = await notify.gql(MARK_ALL, token=token)
    assert all_marked.ok()["markAllNotificationsRead"] == 2
    assert (await notify.gql(MARK_ALL, token=token)).ok()["markAllNotificationsRead"] == 0
    again = (await notify.gql(INBOX, {"r": _user(other)}, token=notify.token(other))).ok()
    assert again["_entities"][0]["unreadNotificationCount"] == 2


async def test_bad_arguments_are_bad_user_input(notify: Notify) -> None:
    user = await _inbox_user(notify, 0)
    token = notify.token(user)
    for variables in ({"first": 0}, {"first": 101}, {"after": "not-a-cursor"}):
        result = await notify.gql(INBOX, {"r": _user(user), **variables}, token=token)
        assert result.code == "BAD_USER_INPUT", variables
    bad_id = await notify.gql(MARK, {"ids": ["nope"]}, token=token)
    assert bad_id.code == "BAD_USER_INPUT"
    anonymous = await notify.gql(MARK_ALL)
    assert anonymous.code == "UNAUTHENTICATED"


async def test_preferences_per_category_and_transactional_ones_stay_on(notify: Notify) -> None:
    user = str(uuid.uuid4())
    token = notify.token(user)
    updated = await notify.gql(
        UPDATE,
        {
            "i": {
                "preferences": [
                    {"category": "VIDEO", "email": False},
                    {"category": "LEARNING", "inApp": False},
                ]
            }
        },
        token=token,
    )
    by_category = {p["category"]: p for p in updated.ok()["updateNotificationPreferences"]}
    assert set(by_category) == {"ACCOUNT", "LEARNING", "PAYMENTS", "VIDEO"}
    assert (by_category["VIDEO"]["email"], by_category["VIDEO"]["inApp"]) == (False, True)
    assert (by_category["LEARNING"]["email"], by_category["LEARNING"]["inApp"]) == (True, False)
    assert by_category["PAYMENTS"]["transactional"] is True
    for change in ({"email": False}, {"inApp": False}):
        refused = await notify.gql(
            UPDATE, {"i": {"preferences": [{"category": "PAYMENTS", **change}]}}, token=token
        )
        assert refused.code == "BAD_USER_INPUT"
        assert "cannot be switched off" in refused.errors[0]["message"]
    twice = await notify.gql(
        UPDATE,
        {"i": {"preferences": [{"category": "VIDEO", "email": True}] * 2}},
        token=token,
    )
    assert twice.code == "BAD_USER_INPUT"
    kept = await notify.gql("{ notificationPreferences { category email inApp } }", token=token)
    video = next(p for p in kept.ok()["notificationPreferences"] if p["category"] == "VIDEO")
    assert video["email"] is False
