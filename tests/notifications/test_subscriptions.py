"""`notificationAdded` over notifications' own WebSocket: the consumer that writes a
notification may run on another instance than the one holding the viewer's socket, so the
notification travels through NATS (`notification.added`, from the consumer's outbox)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from coursegraph.live import LiveFeed
from coursegraph.testing import ServerThread
from subgraphs.notifications.app import create_app
from tests.helpers import graphql_socket
from tests.notifications.conftest import Notify, eventually

WATCH = "subscription { notificationAdded { id kind title amount { amount currency } } }"


def _charge(user_id: str) -> dict[str, Any]:
    return {
        "paymentId": str(uuid.uuid4()),
        "userId": user_id,
        "courseId": str(uuid.uuid4()),
        "amountMinor": 4999,
        "currency": "USD",
        "provider": "SANDBOX",
    }


@pytest.fixture
def second(notify: Notify) -> Iterator[tuple[ServerThread, LiveFeed]]:
    """Another notifications instance on the same NATS and database."""
    app = create_app(notify.settings, notify.section)
    with ServerThread(app) as server:
        yield server, app.state.container.live


async def test_a_new_notification_reaches_the_viewer_on_any_instance(
    notify: Notify, second: tuple[ServerThread, LiveFeed]
) -> None:
    server, feed = second
    user_id, _ = await notify.register()
    other_id, _ = await notify.register()
    await notify.wait_notifications(user_id, 1)  # the welcome, before anyone watched
    async with graphql_socket(f"{server.url}/graphql", token=notify.token(user_id)) as socket:
        await socket.subscribe("1", WATCH)

        async def watching() -> bool:
            return feed.subscriber_count == 1 and feed.listening

        await eventually(watching, within=15, what="the subscription")
        # Someone else's first: it must not reach this viewer.
        await notify.publish("payment.succeeded", _charge(other_id))
        await notify.publish("payment.succeeded", _charge(user_id))
        added = (await socket.next_data("1"))["notificationAdded"]
        assert added["kind"] == "PAYMENT_RECEIPT"
        assert added["amount"] == {"amount": "49.99", "currency": "USD"}
        rows = await notify.wait_notifications(user_id, 2)
        assert added["id"] == str(rows[1].id)
        # The same event again (a producer's retry past JetStream's window) adds nothing.
        await notify.publish_again(notify.published[-1])
        await notify.publish("payment.succeeded", _charge(user_id))
        assert (await socket.next_data("1"))["notificationAdded"]["id"] != added["id"]

    async def left() -> bool:
        return feed.subscriber_count == 0

    await eventually(left, within=15, what="the subscriber gone")


async def test_notification_added_needs_a_viewer(
    notify: Notify, second: tuple[ServerThread, LiveFeed]
) -> None:
    async with graphql_socket(f"{second[0].url}/graphql") as socket:
        await socket.subscribe("1", WATCH)
        assert await socket.error_codes("1") == ["UNAUTHENTICATED"]
