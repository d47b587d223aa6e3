"""Events of the notifications subgraph: its internal one, for its own subscriptions."""

from __future__ import annotations

from typing import ClassVar

from contracts.events import EventPayload


class NotificationAdded(EventPayload):
    """Internal: an in-app notification was written for `userId`. The consumer that wrote
    it may run on another instance than the one holding the user's `notificationAdded`
    socket, so it travels the bus like every outbox row."""

    TOPIC: ClassVar[str] = "notification.added"
    VERSION: ClassVar[int] = 1
    INTERNAL: ClassVar[bool] = True
    notificationId: str
    userId: str


EVENTS: tuple[type[EventPayload], ...] = (NotificationAdded,)
