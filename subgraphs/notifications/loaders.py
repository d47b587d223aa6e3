"""Notifications' DataLoaders (batched reads, one per request)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from strawberry.dataloader import DataLoader

from subgraphs.notifications.service import NotificationService


@dataclass
class NotificationsLoaders:
    unread_counts: DataLoader[str, int]


def make_loaders(notifications: NotificationService) -> NotificationsLoaders:
    async def load_unread_counts(user_ids: Sequence[str]) -> list[int]:
        return await notifications.unread_counts(user_ids)

    return NotificationsLoaders(unread_counts=DataLoader(load_fn=load_unread_counts))
