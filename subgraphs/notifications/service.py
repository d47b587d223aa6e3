"""Notifications' service layer: what the consumer records (notification and mail in its
transaction), what users read and mark, and their preferences. No GraphQL, no HTTP."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import make_msgid

from sqlalchemy import Select, and_, event, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events.notifications import NotificationAdded
from coursegraph import outbox
from coursegraph.db import Database
from coursegraph.errors import BadUserInput
from coursegraph.live import LiveFeed
from subgraphs.notifications.messages import Draft, MailTemplates
from subgraphs.notifications.models import (
    TRANSACTIONAL,
    Category,
    Mail,
    Notification,
    Preference,
    Recipient,
)
from subgraphs.notifications.models import outbox as outbox_table
from subgraphs.notifications.unsubscribe import UnsubscribeLinks

MAX_PAGE_SIZE = 100
MAX_IDS = 100
# What `notificationAdded` waits on, keyed by the notification's user.
LIVE_KEYS: dict[str, str] = {NotificationAdded.TOPIC: "userId"}
# Notification ids one subscription remembers, so a repeated publish is not sent twice.
_SENT_REMEMBERED = 256


@dataclass(frozen=True, slots=True)
class Channels:
    email: bool = True
    in_app: bool = True


@dataclass(frozen=True, slots=True)
class CategoryPreference:
    category: Category
    email: bool
    in_app: bool

    @property
    def transactional(self) -> bool:
        return self.category in TRANSACTIONAL


@dataclass(frozen=True, slots=True)
class PreferenceChange:
    category: Category
    email: bool | None = None
    in_app: bool | None = None


@dataclass(frozen=True, slots=True)
class Page:
    notifications: list[Notification]
    cursors: list[str]
    has_next_page: bool


def _cursor(row: Notification) -> str:
    raw = f"{row.created_at.isoformat()}|{row.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _position(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, _, row_id = raw.partition("|")
        position = datetime.fromisoformat(created), uuid.UUID(row_id)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadUserInput("The cursor is not valid.", field="after") from None
    if position[0].tzinfo is None:
        raise BadUserInput("The cursor is not valid.", field="after")
    return position


def parse_user_id(value: str, field: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise BadUserInput(f"`{field}` is not a valid id.", field=field) from None


class NotificationService:
    def __init__(
        self,
        database: Database,
        templates: MailTemplates,
        links: UnsubscribeLinks,
        mail_domain: str,
        live: LiveFeed,
        on_event: Callable[[], None] = lambda: None,
    ) -> None:
        """`on_event`: wakes the outbox relay once a transaction that wrote an event
        committed."""
        self._db = database
        self._templates = templates
        self._links = links
        self._mail_domain = mail_domain
        self._live = live
        self._on_event = on_event

    # ------------------------------------------------------------ the consumer's writes
    async def remember_recipient(
        self, session: AsyncSession, user_id: str, email: str, name: str
    ) -> None:
        values = {"user_id": uuid.UUID(user_id), "email": email, "name": name}
        statement = insert(Recipient).values(**values)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[Recipient.user_id],
                set_={"email": statement.excluded.email, "name": statement.excluded.name},
            )
        )

    async def recipient(self, session: AsyncSession, user_id: str) -> Recipient | None:
        return await session.get(Recipient, uuid.UUID(user_id))

    async def record(
        self, session: AsyncSession, event_id: str, draft: Draft, recipient: Recipient | None
    ) -> None:
        """The notification and its mail, as the user's preferences say, inside the
        consumer's transaction. A repeat of the same event for the same user writes
        nothing (unique constraints; the consumer's dedupe row comes first anyway)."""
        user_id = uuid.UUID(draft.user_id)
        channels = await self._channels(session, user_id, draft.category)
        if channels.in_app:
            facts = draft.facts
            added = await session.scalar(
                insert(Notification)
                .values(
                    id=uuid.uuid4(),
                    user_id=user_id,
                    event_id=event_id,
                    category=draft.category.value,
                    kind=draft.kind.value,
                    title=draft.title,
                    body=draft.body,
                    url=self._templates.link(draft),
                    course_id=facts.course_id,
                    course_title=facts.course_title,
                    payment_id=facts.payment_id,
                    amount_minor=facts.amount_minor,
                    currency=facts.currency,
                    certificate_code=facts.certificate_code,
                    lecture_id=facts.lecture_id,
                    reason=facts.reason,
                )
                .on_conflict_do_nothing(constraint="uq_notifications_event_user")
                .returning(Notification.id)
            )
            if added is not None:
                announced = NotificationAdded(notificationId=str(added), userId=draft.user_id)
                await outbox.add(session, outbox_table, announced)
                # The consumer commits this transaction; the relay is woken once it has.
                event.listen(
                    session.sync_session, "after_commit", lambda _: self._on_event(), once=True
                )
        if channels.email and draft.has_mail and recipient is not None:
            unsubscribe = (
                None
                if draft.category in TRANSACTIONAL
                else self._links.url(draft.user_id, draft.category)
            )
            rendered = self._templates.render(draft, recipient.name, unsubscribe)
            mail_id = uuid.uuid4()
            await session.execute(
                insert(Mail)
                .values(
                    id=mail_id,
                    event_id=event_id,
                    user_id=user_id,
                    kind=draft.kind.value,
                    to_address=recipient.email,
                    to_name=recipient.name,
                    subject=rendered.subject,
                    text_body=rendered.text,
                    html_body=rendered.html,
                    unsubscribe_url=unsubscribe,
                    message_id=make_msgid(idstring=mail_id.hex, domain=self._mail_domain),
                )
                .on_conflict_do_nothing(constraint="uq_mails_event_user")
            )

    async def _channels(
        self, session: AsyncSession, user_id: uuid.UUID, category: Category
    ) -> Channels:
        if category in TRANSACTIONAL:
            return Channels()
        row = await session.get(Preference, (user_id, category.value))
        return Channels() if row is None else Channels(email=row.email, in_app=row.in_app)

    # ------------------------------------------------------------ reads
    async def watch_added(self, user_id: str) -> AsyncIterator[Notification]:
        """`notificationAdded`: each notification written for the user from now on, read
        from the database (the event only names it), each once."""
        owner = uuid.UUID(user_id)
        sent: OrderedDict[str, None] = OrderedDict()
        async with self._live.subscribe(user_id) as events:
            async for added in events:
                notification_id = added.payload.get("notificationId")
                if not isinstance(notification_id, str) or notification_id in sent:
                    continue
                sent[notification_id] = None
                if len(sent) > _SENT_REMEMBERED:
                    sent.popitem(last=False)
                async with self._db.read() as session:
                    row = await session.get(Notification, uuid.UUID(notification_id))
                if row is not None and row.user_id == owner:
                    yield row

    async def page(self, user_id: str, *, first: int, after: str | None, unread_only: bool) -> Page:
        if not 1 <= first <= MAX_PAGE_SIZE:
            raise BadUserInput(f"`first` must be between 1 and {MAX_PAGE_SIZE}.", field="first")
        query = self._listing(user_id, unread_only)
        if after is not None:
            created, row_id = _position(after)
            query = query.where(
                or_(
                    Notification.created_at < created,
                    and_(Notification.created_at == created, Notification.id < row_id),
                )
            )
        query = query.order_by(Notification.created_at.desc(), Notification.id.desc())
        async with self._db.read() as session:
            rows = list((await session.scalars(query.limit(first + 1))).all())
        page = rows[:first]
        return Page(page, [_cursor(row) for row in page], len(rows) > first)

    async def count(self, user_id: str, *, unread_only: bool) -> int:
        query = self._listing(user_id, unread_only).with_only_columns(func.count())
        async with self._db.read() as session:
            return int(await session.scalar(query) or 0)

    async def unread_counts(self, user_ids: Sequence[str]) -> list[int]:
        ids = [uuid.UUID(u) for u in user_ids]
        async with self._db.read() as session:
            rows = await session.execute(
                select(Notification.user_id, func.count())
                .where(Notification.user_id.in_(ids), Notification.read_at.is_(None))
                .group_by(Notification.user_id)
            )
            counts = {user: int(n) for user, n in rows.all()}
        return [counts.get(u, 0) for u in ids]

    def _listing(self, user_id: str, unread_only: bool) -> Select[Notification]:
        query = select(Notification).where(Notification.user_id == uuid.UUID(user_id))
        return query.where(Notification.read_at.is_(None)) if unread_only else query

    # ------------------------------------------------------------ marking read
    async def mark_read(self, user_id: str, ids: Iterable[str]) -> list[Notification]:
        """The viewer's notifications among `ids`, now read; ids of other users' (or of
        none) are ignored, so nothing tells whether they exist."""
        wanted = list(dict.fromkeys(ids))
        if len(wanted) > MAX_IDS:
            raise BadUserInput(f"At most {MAX_IDS} ids at once.", field="ids")
        parsed = [parse_user_id(i, "ids") for i in wanted]
        owner = uuid.UUID(user_id)
        async with self._db.transaction() as session:
            await session.execute(
                update(Notification)
                .where(
                    Notification.user_id == owner,
                    Notification.id.in_(parsed),
                    Notification.read_at.is_(None),
                )
                .values(read_at=func.now())
            )
            rows = (
                await session.scalars(
                    select(Notification).where(
                        Notification.user_id == owner, Notification.id.in_(parsed)
                    )
                )
            ).all()
        by_id = {row.id: row for row in rows}
        return [by_id[i] for i in parsed if i in by_id]

    async def mark_all_read(self, user_id: str) -> int:
        async with self._db.transaction() as session:
            result = await session.execute(
                update(Notification)
                .where(Notification.user_id == uuid.UUID(user_id), Notification.read_at.is_(None))
                .values(read_at=func.now())
            )
        return int(result.rowcount)  # type: ignore[attr-defined]

    # ------------------------------------------------------------ preferences
    async def preferences(self, user_id: str) -> list[CategoryPreference]:
        async with self._db.read() as session:
            rows = (
                await session.scalars(
                    select(Preference).where(Preference.user_id == uuid.UUID(user_id))
                )
            ).all()
        return _all_categories({Category(r.category): r for r in rows})

    async def update_preferences(
        self, user_id: str, changes: Sequence[PreferenceChange]
    ) -> list[CategoryPreference]:
        seen: set[Category] = set()
        for change in changes:
            if change.category in seen:
                raise BadUserInput(f"{change.category.value} is given twice.", field="input")
            seen.add(change.category)
            if change.category in TRANSACTIONAL and False in (change.email, change.in_app):
                raise BadUserInput(
                    f"{change.category.value} notifications (receipts, refunds, failed "
                    "payments) are transactional and cannot be switched off.",
                    field="input",
                )
        owner = uuid.UUID(user_id)
        async with self._db.transaction() as session:
            for change in changes:
                await self._set(session, owner, change)
        return await self.preferences(user_id)

    async def unsubscribe(self, user_id: uuid.UUID, category: Category) -> None:
        """One-click unsubscribe: that category's email off (the link is never made for a
        transactional category)."""
        async with self._db.transaction() as session:
            await self._set(session, user_id, PreferenceChange(category, email=False))

    async def _set(
        self, session: AsyncSession, user_id: uuid.UUID, change: PreferenceChange
    ) -> None:
        given: Mapping[str, bool | None] = {"email": change.email, "in_app": change.in_app}
        updates = {name: value for name, value in given.items() if value is not None}
        if not updates:
            return
        statement = insert(Preference).values(
            user_id=user_id,
            category=change.category.value,
            email=True if change.email is None else change.email,
            in_app=True if change.in_app is None else change.in_app,
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[Preference.user_id, Preference.category],
                set_={**updates, "updated_at": func.now()},
            )
        )


def _all_categories(rows: Mapping[Category, Preference]) -> list[CategoryPreference]:
    result = []
    for category in Category:
        row = rows.get(category)
        if row is None or category in TRANSACTIONAL:
            result.append(CategoryPreference(category, email=True, in_app=True))
        else:
            result.append(CategoryPreference(category, email=row.email, in_app=row.in_app))
    return result
