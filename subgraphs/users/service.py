"""Users' domain logic: accounts, passwords, sessions (refresh-token families).

No GraphQL and no HTTP here; every method owns its transaction.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events.users import UserRegistered, UserUpdated
from coursegraph import outbox
from coursegraph.batch import rows_by_key
from coursegraph.db import Database, is_unique_violation
from coursegraph.errors import (
    BadUserInput,
    Conflict,
    Forbidden,
    NotFound,
    Unauthenticated,
)
from coursegraph.identity import ROLE_SCOPES, Role, Viewer, scope_claim
from coursegraph.settings import Settings
from subgraphs.users.keys import KeyStore
from subgraphs.users.models import ACCOUNT_COLUMNS, Account, RefreshToken, TokenRevocation, User
from subgraphs.users.models import outbox as outbox_table
from subgraphs.users.throttle import Throttle

PUBLIC_ROLES = (Role.STUDENT, Role.TEACHER)
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 8
# Hashing a megabyte-long password would be a cheap denial of service.
MAX_PASSWORD_LENGTH = 1024
MAX_NAME_LENGTH = 100
INVALID_CREDENTIALS = "Invalid email or password."


@dataclass(frozen=True)
class AuthResult:
    access_token: str
    refresh_token: str
    expires_in: int
    user: User


def normalise_email(email: str) -> str:
    value = email.strip().lower()
    if len(value) > 254 or not EMAIL_PATTERN.match(value):
        raise BadUserInput("Enter a valid email address.", field="email")
    return value


def clean_name(name: str) -> str:
    value = " ".join(name.split())
    if not value:
        raise BadUserInput("The name must not be empty.", field="name")
    if len(value) > MAX_NAME_LENGTH:
        raise BadUserInput(f"The name may have at most {MAX_NAME_LENGTH} characters.", field="name")
    return value


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadUserInput(
            f"The password must have at least {MIN_PASSWORD_LENGTH} characters.", field="password"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise BadUserInput(
            f"The password may have at most {MAX_PASSWORD_LENGTH} characters.", field="password"
        )


@dataclass(frozen=True, slots=True)
class _NewAccount:
    email: str
    password: str
    name: str
    role: str

    @classmethod
    def checked(cls, email: str, password: str, name: str, role: str) -> _NewAccount:
        email, name = normalise_email(email), clean_name(name)
        check_password(password)
        return cls(email, password, name, role)


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# Built once: the statement's cache key is then computed for one object.
_ACCOUNTS = select(*ACCOUNT_COLUMNS)


class UserService:
    def __init__(
        self,
        database: Database,
        keys: KeyStore,
        throttle: Throttle,
        settings: Settings,
        on_event: Callable[[], None] = lambda: None,
    ) -> None:
        self._db = database
        # Called after a commit that wrote outbox rows (wakes the relay).
        self._on_event = on_event
        self._keys = keys
        self._throttle = throttle
        self._settings = settings
        self._hasher = PasswordHasher()  # argon2id with the library's current parameters
        # Compared against when the email is unknown, so both failures take as long.
        self._dummy_hash = self._hasher.hash(secrets.token_hex(16))

    # ------------------------------------------------------------------ accounts
    async def register(
        self, email: str, password: str, name: str, role: str, client_address: str | None
    ) -> AuthResult:
        if role not in PUBLIC_ROLES:
            raise Forbidden("Only STUDENT or TEACHER accounts can be registered.", field="role")
        account = _NewAccount.checked(email, password, name, role)
        # Counted before the password is hashed, whatever the outcome (a taken email too).
        await self._throttle.reserve_registration(client_address)
        user = await self._create_user(account)
        return await self._start_session(user)

    async def create_admin(self, email: str, password: str, name: str) -> User:
        return await self._create_user(_NewAccount.checked(email, password, name, Role.ADMIN))

    async def ensure_demo_account(self, email: str, password: str, name: str, role: str) -> User:
        """The account with this email, created if missing, its password set to `password`.

        For demo data only (the caller refuses production): it neither signs in nor
        touches the throttles, so wrong passwords tried by hand never stop seeding.
        """
        account = _NewAccount.checked(email, password, name, role)
        async with self._db.read() as session:
            user = await session.scalar(select(User).where(User.email == account.email))
        if user is None:
            try:
                return await self._create_user(account)
            except Conflict:  # created meanwhile by a concurrent seed
                async with self._db.read() as session:
                    user = await session.scalar(select(User).where(User.email == account.email))
                assert user is not None
        if not await asyncio.to_thread(self._verify_password, user.password_hash, password):
            await self._set_password(user, password)
        return user

    async def _create_user(self, account: _NewAccount) -> User:
        password_hash = await asyncio.to_thread(self._hasher.hash, account.password)
        user = User(
            id=uuid.uuid4(),
            email=account.email,
            name=account.name,
            role=account.role,
            password_hash=password_hash,
        )
        registered = UserRegistered(
            userId=str(user.id), email=user.email, name=user.name, role=user.role
        )
        try:
            async with self._db.transaction() as session:
                session.add(user)
                await session.flush()  # the row first: a taken email writes no event
                await outbox.add(session, outbox_table, registered)
        except IntegrityError as error:
            if is_unique_violation(error):
                raise Conflict(
                    "An account with this email already exists.", field="email"
                ) from None
            raise
        self._on_event()
        return user

    async def set_role(self, email: str, role: str) -> User:
        """Change an account's role; its access tokens issued until now stop working."""
        if role not in ROLE_SCOPES:
            raise BadUserInput(f"The role must be one of {', '.join(ROLE_SCOPES)}.", field="role")
        async with self._db.transaction() as session:
            user = await self._account_for_update(session, email)
            user.role = role
            await self._revoke_access_tokens(session, user.id)
            await outbox.add(session, outbox_table, UserUpdated(userId=str(user.id), change="role"))
        self._on_event()
        return user

    async def delete_account(self, email: str) -> None:
        """Delete an account and its sessions; its access tokens stop working."""
        async with self._db.transaction() as session:
            user = await self._account_for_update(session, email)
            await session.delete(user)  # refresh tokens go with it (ON DELETE CASCADE)
            await self._revoke_access_tokens(session, user.id)
            deleted = UserUpdated(userId=str(user.id), change="deleted")
            await outbox.add(session, outbox_table, deleted)
        self._on_event()

    async def recent_revocations(self) -> dict[str, int]:
        """User id → unix second at or before which its access tokens are refused, for
        revocations that may still hold an unexpired token."""
        s = self._settings
        since = datetime.now(UTC) - timedelta(
            seconds=s.access_token_ttl_seconds + s.jwt_leeway_seconds
        )
        async with self._db.read() as session:
            rows = await session.execute(
                select(TokenRevocation.user_id, TokenRevocation.not_before).where(
                    TokenRevocation.not_before > since
                )
            )
            return {str(user_id): int(not_before.timestamp()) for user_id, not_before in rows}

    async def _account_for_update(self, session: AsyncSession, email: str) -> User:
        user = await session.scalar(
            select(User).where(User.email == normalise_email(email)).with_for_update()
        )
        if user is None:
            raise NotFound("No account has this email.")
        return user

    async def _revoke_access_tokens(self, session: AsyncSession, user_id: uuid.UUID) -> None:
        now = datetime.now(UTC)
        statement = insert(TokenRevocation).values(user_id=user_id, not_before=now)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[TokenRevocation.user_id], set_={"not_before": now}
            )
        )

    async def unlock(self, *, email: str | None = None, address: str | None = None) -> int:
        """Clear the throttle counts of an account and/or a client address."""
        return await self._throttle.unlock(
            email=normalise_email(email) if email is not None else None, address=address
        )

    async def get(self, user_id: str) -> Account | None:
        return (await self.get_many([user_id]))[0]

    async def get_many(self, user_ids: Sequence[str]) -> list[Account | None]:
        rows = await rows_by_key(self._db, _ACCOUNTS, User.id, user_ids)
        return [Account(*cast(tuple[Any, ...], row)) if row is not None else None for row in rows]

    async def update_profile(self, viewer: Viewer, name: str | None) -> User:
        async with self._db.transaction() as session:
            user = await session.get(User, uuid.UUID(viewer.id), with_for_update=True)
            if user is None:
                raise NotFound("Your account no longer exists.")
            if name is not None:
                user.name = clean_name(name)
                changed = UserUpdated(userId=str(user.id), change="profile")
                await outbox.add(session, outbox_table, changed)
        if name is not None:
            self._on_event()
        return user

    # ------------------------------------------------------------------ sessions
    async def login(self, email: str, password: str, client_address: str | None) -> AuthResult:
        try:
            email = normalise_email(email)
        except BadUserInput:
            raise Unauthenticated(INVALID_CREDENTIALS) from None
        # The slot is taken before the slow check: concurrent guesses cannot all pass.
        slot = await self._throttle.reserve_sign_in(email, client_address)
        async with self._db.read() as session:
            user = await session.scalar(select(User).where(User.email == email))
        stored_hash = user.password_hash if user else self._dummy_hash
        valid = await asyncio.to_thread(self._verify_password, stored_hash, password)
        if user is None or not valid:
            raise Unauthenticated(INVALID_CREDENTIALS)  # the slot stays taken: a failure
        await self._throttle.sign_in_succeeded(slot)
        await self._rehash_if_needed(user, password)
        return await self._start_session(user)

    async def _rehash_if_needed(self, user: User, password: str) -> None:
        if self._hasher.check_needs_rehash(user.password_hash):
            await self._set_password(user, password)

    async def _set_password(self, user: User, password: str) -> None:
        password_hash = await asyncio.to_thread(self._hasher.hash, password)
        async with self._db.transaction() as session:
            await session.execute(
                update(User).where(User.id == user.id).values(password_hash=password_hash)
            )
        user.password_hash = password_hash

    def _verify_password(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password[:MAX_PASSWORD_LENGTH])
        except (VerificationError, InvalidHashError):
            return False

    async def refresh(self, token: str, client_address: str | None) -> AuthResult:
        slot = await self._throttle.reserve_refresh(client_address)
        result = await self._rotate(token)  # a refusal raises: the slot stays taken
        await self._throttle.refresh_succeeded(slot)
        return result

    async def _rotate(self, token: str) -> AuthResult:
        now = datetime.now(UTC)
        user: User | None = None
        async with self._db.transaction() as session:
            row = await session.scalar(
                select(RefreshToken)
                .where(RefreshToken.token_hash == _hash_token(token))
                .with_for_update()
            )
            if row is None or row.expires_at <= now:
                raise Unauthenticated("The refresh token is invalid or has expired.")
            if row.rotated_at is not None or row.revoked_at is not None:
                # A rotated token came back: someone holds a stolen copy. End the family
                # (committed by leaving the block normally, then refused below).
                await self._revoke_family(session, row.family_id, now)
            else:
                row.rotated_at = now
                user = await session.get(User, row.user_id)
                if user is None:
                    raise Unauthenticated("The account no longer exists.")
                refresh_token = self._new_refresh_token(session, user.id, row.family_id)
        if user is None:
            raise Unauthenticated("The refresh token was already used; sign in again.")
        return self._auth_result(user, refresh_token)

    async def logout(self, token: str) -> bool:
        """Revoke the session (the token's whole family). False when nothing was live."""
        async with self._db.transaction() as session:
            row = await session.scalar(
                select(RefreshToken).where(RefreshToken.token_hash == _hash_token(token))
            )
            if row is None or row.revoked_at is not None:
                return False
            await self._revoke_family(session, row.family_id, datetime.now(UTC))
        return True

    async def _start_session(self, user: User) -> AuthResult:
        async with self._db.transaction() as session:
            refresh_token = self._new_refresh_token(session, user.id, uuid.uuid4())
        return self._auth_result(user, refresh_token)

    def _new_refresh_token(
        self, session: AsyncSession, user_id: uuid.UUID, family_id: uuid.UUID
    ) -> str:
        token = secrets.token_urlsafe(32)
        session.add(
            RefreshToken(
                user_id=user_id,
                family_id=family_id,
                token_hash=_hash_token(token),
                expires_at=datetime.now(UTC)
                + timedelta(seconds=self._settings.refresh_token_ttl_seconds),
            )
        )
        return token

    async def _revoke_family(
        self, session: AsyncSession, family_id: uuid.UUID, now: datetime
    ) -> None:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    def _auth_result(self, user: User, refresh_token: str) -> AuthResult:
        ttl = self._settings.access_token_ttl_seconds
        access_token = self._keys.sign(
            {"sub": str(user.id), "role": user.role, "scope": scope_claim(user.role)},
            issuer=self._settings.jwt_issuer,
            audience=self._settings.jwt_audience,
            ttl_seconds=ttl,
        )
        return AuthResult(access_token, refresh_token, ttl, user)
