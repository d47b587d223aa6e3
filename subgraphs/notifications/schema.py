"""Notifications' public roots and its contribution to `User`: thin resolvers over
`NotificationService`."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from coursegraph.federation import build_schema
from coursegraph.graphql_types import PageInfo, list_size
from coursegraph.live import each_resolved
from subgraphs.notifications.models import Category
from subgraphs.notifications.objects import (
    Course,
    Lecture,
    Notification,
    NotificationConnection,
    NotificationEdge,
    NotificationPreference,
    NotificationsInfo,
    Payment,
    UpdateNotificationPreferencesInput,
)
from subgraphs.notifications.policy import require_owner
from subgraphs.notifications.service import MAX_IDS, MAX_PAGE_SIZE, PreferenceChange


@strawberry.federation.type(keys=["id"])
class User:
    """Owned by users; notifications contributes the user's inbox."""

    id: strawberry.ID

    @strawberry.field(
        description="The user's notifications, newest first; FORBIDDEN unless the viewer "
        f"is this user. `first`: 1 to {MAX_PAGE_SIZE}.",
        directives=[list_size(slicing=["first"], sized=["edges", "nodes"])],
    )
    async def notifications(
        self,
        info: NotificationsInfo,
        first: int = 20,
        after: str | None = strawberry.UNSET,
        unread_only: bool = False,
    ) -> NotificationConnection:
        require_owner(info.context.viewer, str(self.id))
        page = await info.context.container.notifications.page(
            str(self.id), first=first, after=after or None, unread_only=unread_only
        )
        nodes = [Notification.from_model(row) for row in page.notifications]
        return NotificationConnection(
            edges=[
                NotificationEdge(cursor=cursor, node=node)
                for node, cursor in zip(nodes, page.cursors, strict=True)
            ],
            nodes=nodes,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                end_cursor=page.cursors[-1] if page.cursors else None,
            ),
            _user_id=str(self.id),
            _unread_only=unread_only,
        )

    @strawberry.field(description="FORBIDDEN unless the viewer is this user.")
    async def unread_notification_count(self, info: NotificationsInfo) -> int:
        require_owner(info.context.viewer, str(self.id))
        return await info.context.loaders.unread_counts.load(str(self.id))

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> User:
        return cls(id=id)


@strawberry.type
class Query:
    @strawberry.federation.field(
        authenticated=True,
        description="The viewer's choices per category and channel (every category listed).",
        directives=[list_size(assumed=len(Category))],
    )
    async def notification_preferences(
        self, info: NotificationsInfo
    ) -> list[NotificationPreference]:
        viewer = info.context.require_viewer()
        found = await info.context.container.notifications.preferences(viewer.id)
        return [NotificationPreference.from_service(p) for p in found]


@strawberry.type
class Mutation:
    @strawberry.federation.mutation(
        authenticated=True,
        description="Marks the viewer's notifications among `ids` read and returns them; "
        f"ids of no notification of the viewer's are ignored. At most {MAX_IDS} ids.",
        directives=[list_size(assumed=MAX_IDS)],
    )
    async def mark_notifications_read(
        self, info: NotificationsInfo, ids: list[strawberry.ID]
    ) -> list[Notification]:
        viewer = info.context.require_viewer()
        rows = await info.context.container.notifications.mark_read(
            viewer.id, [str(i) for i in ids]
        )
        return [Notification.from_model(row) for row in rows]

    @strawberry.federation.mutation(
        authenticated=True, description="Marks all the viewer's notifications read; how many."
    )
    async def mark_all_notifications_read(self, info: NotificationsInfo) -> int:
        viewer = info.context.require_viewer()
        return await info.context.container.notifications.mark_all_read(viewer.id)

    @strawberry.federation.mutation(
        authenticated=True,
        description="Switches channels per category; PAYMENTS (transactional) cannot be "
        "switched off (BAD_USER_INPUT). Returns every category.",
        directives=[list_size(assumed=len(Category))],
    )
    async def update_notification_preferences(
        self, info: NotificationsInfo, input: UpdateNotificationPreferencesInput
    ) -> list[NotificationPreference]:
        viewer = info.context.require_viewer()
        changes = [
            PreferenceChange(
                Category(p.category.value), email=_given(p.email), in_app=_given(p.in_app)
            )
            for p in input.preferences
        ]
        found = await info.context.container.notifications.update_preferences(viewer.id, changes)
        return [NotificationPreference.from_service(p) for p in found]


def _given(value: bool | None) -> bool | None:
    """None for an unset (or null) channel: it keeps its value."""
    return None if value is strawberry.UNSET else value


@strawberry.type
class Subscription:
    @strawberry.federation.field(
        is_subscription=True,
        authenticated=True,
        description="Each new notification of the viewer, from now on (no earlier ones: "
        "read those from `me { notifications }`).",
    )
    async def notification_added(
        self, info: NotificationsInfo
    ) -> AsyncGenerator[Notification, None]:
        viewer = info.context.require_viewer()
        added = info.context.container.notifications.watch_added(viewer.id)
        return each_resolved(info.context, added, Notification.from_model)


schema = build_schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    types=[User, Course, Payment, Lecture],
)
