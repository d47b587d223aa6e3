"""Notifications' GraphQL object, input and enum types."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.federation.schema_directives import Key
from strawberry.federation.types import FieldSet
from strawberry.types import Info

from coursegraph.context import RequestContext
from coursegraph.graphql_types import Money, PageInfo
from subgraphs.notifications import models
from subgraphs.notifications.bootstrap import NotificationsContainer
from subgraphs.notifications.loaders import NotificationsLoaders
from subgraphs.notifications.service import CategoryPreference

Context = RequestContext[NotificationsContainer, NotificationsLoaders]
NotificationsInfo = Info[Context, None]


# The models' enums, under the names the API gives them.
strawberry.enum(
    models.Category,
    name="NotificationCategory",
    description="What a notification is about; preferences are per category.",
)
strawberry.enum(models.Kind, name="NotificationKind")
NotificationCategory = models.Category
NotificationKind = models.Kind


# ------------------------------------------------------------------ other subgraphs' entities
# Referenced only: their owners resolve them.
STUB_KEY = Key(fields=FieldSet("id"), resolvable=False)


@strawberry.federation.type(keys=[STUB_KEY])
class Course:
    id: strawberry.ID


@strawberry.federation.type(keys=[STUB_KEY])
class Payment:
    id: strawberry.ID


@strawberry.federation.type(keys=[STUB_KEY])
class Lecture:
    id: strawberry.ID


# ------------------------------------------------------------------ notifications
@strawberry.type
class Notification:
    id: strawberry.ID
    category: NotificationCategory
    kind: NotificationKind
    title: str
    body: str
    url: str | None = strawberry.field(description="Where the web app shows the subject.")
    created_at: datetime
    read_at: datetime | None
    course: Course | None
    course_title: str | None = strawberry.field(
        description="The course's title when the notification was made."
    )
    payment: Payment | None
    amount: Money | None = strawberry.field(description="Paid, refunded or failed amount.")
    certificate_code: str | None = strawberry.field(
        description="The public code `verifyCertificate` accepts."
    )
    lecture: Lecture | None
    reason: str | None = strawberry.field(description="Why a payment or a video failed.")

    @strawberry.field
    def read(self) -> bool:
        return self.read_at is not None

    @classmethod
    def from_model(cls, row: models.Notification) -> Notification:
        return cls(
            id=strawberry.ID(str(row.id)),
            category=NotificationCategory(row.category),
            kind=NotificationKind(row.kind),
            title=row.title,
            body=row.body,
            url=row.url,
            created_at=row.created_at,
            read_at=row.read_at,
            course=Course(id=strawberry.ID(row.course_id)) if row.course_id else None,
            course_title=row.course_title,
            payment=Payment(id=strawberry.ID(row.payment_id)) if row.payment_id else None,
            amount=(
                Money.of(row.amount_minor, row.currency)
                if row.amount_minor is not None and row.currency is not None
                else None
            ),
            certificate_code=row.certificate_code,
            lecture=Lecture(id=strawberry.ID(row.lecture_id)) if row.lecture_id else None,
            reason=row.reason,
        )


@strawberry.type
class NotificationEdge:
    cursor: str
    node: Notification


@strawberry.type
class NotificationConnection:
    edges: list[NotificationEdge]
    nodes: list[Notification]
    page_info: PageInfo
    _user_id: strawberry.Private[str]
    _unread_only: strawberry.Private[bool]

    @strawberry.field(description="Notifications matching the arguments, on every page.")
    async def total_count(self, info: NotificationsInfo) -> int:
        notifications = info.context.container.notifications
        return await notifications.count(self._user_id, unread_only=self._unread_only)


# ------------------------------------------------------------------ preferences
@strawberry.type
class NotificationPreference:
    category: NotificationCategory
    email: bool
    in_app: bool
    transactional: bool = strawberry.field(
        description="Receipts, refunds and failed payments: always sent, cannot be switched off."
    )

    @classmethod
    def from_service(cls, value: CategoryPreference) -> NotificationPreference:
        return cls(
            category=NotificationCategory(value.category.value),
            email=value.email,
            in_app=value.in_app,
            transactional=value.transactional,
        )


@strawberry.input
class NotificationPreferenceInput:
    category: NotificationCategory
    email: bool | None = strawberry.field(default=strawberry.UNSET, description="Unset: unchanged.")
    in_app: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Unset: unchanged."
    )


@strawberry.input
class UpdateNotificationPreferencesInput:
    preferences: list[NotificationPreferenceInput]
