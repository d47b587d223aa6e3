from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Uuid, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from coursegraph.db import one_of, schema_metadata
from coursegraph.identity import Role
from coursegraph.outbox import outbox_table


class Base(DeclarativeBase):
    metadata = schema_metadata("users")


outbox = outbox_table(Base.metadata)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(one_of("role", Role), name="role"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Stored normalised (trimmed, lower case); uniqueness is the database's job.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


@dataclass(frozen=True, slots=True)
class Account:
    """An account as reads see it (the loaders): its public columns, read as Core rows,
    without an ORM instance (docs/benchmarks-log.md, "Subgraph kernel per request")."""

    id: uuid.UUID
    email: str
    name: str
    role: str
    created_at: datetime


# The columns an `Account` is made of, in its fields' order.
ACCOUNT_COLUMNS = (User.id, User.email, User.name, User.role, User.created_at)


class RefreshToken(Base):
    """Opaque refresh tokens, stored only as SHA-256 hashes; one family per sign-in."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_family_id", "family_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.users.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Set when the token was exchanged for its successor; a second use is theft.
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LoginFailure(Base):
    """Throttle counts per key (`account:<email>`, `address:<client>`, …; throttle.py)."""

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TokenRevocation(Base):
    """Access tokens of this user issued at or before `not_before` are refused.

    Written when the role changes or the account is deleted (no foreign key: it must
    outlive the account); verifiers poll the recent ones (`/token-revocations`).
    """

    __tablename__ = "token_revocations"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    not_before: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
