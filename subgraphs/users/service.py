"""Users' domain logic: accounts, passwords, sessions (refresh-token families), throttling.

No GraphQL and no HTTP here; every method owns its transaction.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from coursegraph.db import Database, is_unique_violation
from coursegraph.errors import (
    BadUserInput,
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    Unauthenticated,
)
from coursegraph.identity import Viewer, scope_claim
from coursegraph.settings import Settings
from subgraphs.users.keys import KeyStore
from subgraphs.users.models import LoginFailure, RefreshToken, User

PUBLIC_ROLES = ("STUDENT", "TEACHER")
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


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserService:
    def __init__(self, database: Database, keys: KeyStore, settings: Settings) -> None:
        self._db = database
        self._keys = keys
        self._settings = settings
        self._hasher = PasswordHasher()  # argon2id with the library's current parameters
        # Compared against when the email is unknown, so both failures take as long.
        self._dummy_hash = self._hasher.hash(secrets.token_hex(16))

    # ------------------------------------------------------------------ accounts
    async def register(self, email: str, password: str, name: str, role: str) -> AuthResult:
        if role not in PUBLIC_ROLES:
            raise Forbidden("Only STUDENT or TEACHER accounts can be registered.", field="role")
        user = await self._create_user(email, password, name, role)
        return await self._start_session(user)

    async def create_admin(self, email: str, password: str, name: str) -> User:
        return await self._create_user(email, password, name, "ADMIN")

    async def _create_user(self, email: str, password: str, name: str, role: str) -> User:
        email = normalise_email(email)
        name = clean_name(name)
        check_password(password)
        password_hash = await asyncio.to_thread(self._hasher.hash, password)
        user = User(id=uuid.uuid4(), email=email, name=name, role=role, password_hash=password_hash)
        try:
            async with self._db.transaction() as session:
                session.add(user)
        except IntegrityError as error:
            if is_unique_violation(error):
                raise Conflict(
                    "An account with this email already exists.", field="email"
                ) from None
            raise
        return user

    async def get(self, user_id: str) -> User | None:
        return (await self.get_many([user_id]))[0]

    async def get_many(self, user_ids: Sequence[str]) -> list[User | None]:
        ids = {_parse_uuid(i) for i in user_ids} - {None}
        found: dict[str, User] = {}
        if ids:
            async with self._db.read() as session:
                rows = await session.scalars(select(User).where(User.id.in_(ids)))
                found = {str(u.id): u for u in rows}
        return [found.get(str(_parse_uuid(i))) for i in user_ids]

    async def update_profile(self, viewer: Viewer, name: str | None) -> User:
        async with self._db.transaction() as session:
            user = await session.get(User, uuid.UUID(viewer.id), with_for_update=True)
            if user is None:
                raise NotFound("Your account no longer exists.")
            if name is not None:
                user.name = clean_name(name)
        return user

    # ------------------------------------------------------------------ sessions
    async def login(self, email: str, password: str, client_address: str | None) -> AuthResult:
        try:
            email = normalise_email(email)
        except BadUserInput:
            raise Unauthenticated(INVALID_CREDENTIALS) from None
        keys = [f"email:{email}"] + ([f"ip:{client_address}"] if client_address else [])
        await self._refuse_if_throttled(keys)

        async with self._db.read() as session:
            user = await session.scalar(select(User).where(User.email == email))
        stored_hash = user.password_hash if user else self._dummy_hash
        valid = await asyncio.to_thread(self._verify_password, stored_hash, password)
        if user is None or not valid:
            await self._record_failure(keys)
            raise Unauthenticated(INVALID_CREDENTIALS)

        async with self._db.transaction() as session:
            await session.execute(delete(LoginFailure).where(LoginFailure.key == keys[0]))
            if self._hasher.check_needs_rehash(user.password_hash):
                user.password_hash = await asyncio.to_thread(self._hasher.hash, password)
                await session.merge(user)
        return await self._start_session(user)

    def _verify_password(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password[:MAX_PASSWORD_LENGTH])
        except (VerificationError, InvalidHashError):
            return False

    async def refresh(self, token: str) -> AuthResult:
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

    # ------------------------------------------------------------------ throttling
    def _limit(self, key: str) -> int:
        s = self._settings
        return (
            s.login_max_failures_per_email
            if key.startswith("email:")
            else (s.login_max_failures_per_address)
        )

    async def _refuse_if_throttled(self, keys: list[str]) -> None:
        window = timedelta(seconds=self._settings.login_failure_window_seconds)
        now = datetime.now(UTC)
        async with self._db.read() as session:
            rows = await session.scalars(select(LoginFailure).where(LoginFailure.key.in_(keys)))
            for row in rows:
                ends = row.window_started_at + window
                if ends > now and row.failures >= self._limit(row.key):
                    retry = max(1, int((ends - now).total_seconds()))
                    raise RateLimited("Too many failed sign-in attempts; try again later.", retry)

    async def _record_failure(self, keys: list[str]) -> None:
        now = datetime.now(UTC)
        window_start = now - timedelta(seconds=self._settings.login_failure_window_seconds)
        expired = LoginFailure.window_started_at <= window_start
        async with self._db.transaction() as session:
            for key in keys:
                # One atomic upsert: concurrent failures are all counted.
                statement = (
                    insert(LoginFailure)
                    .values(key=key, failures=1, window_started_at=now)
                    .on_conflict_do_update(
                        index_elements=[LoginFailure.key],
                        set_={
                            "failures": case((expired, 1), else_=LoginFailure.failures + 1),
                            "window_started_at": case(
                                (expired, now), else_=LoginFailure.window_started_at
                            ),
                        },
                    )
                )
                await session.execute(statement)


def _parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
