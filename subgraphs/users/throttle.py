"""Sign-in, registration and refresh throttles: counters in PostgreSQL, reserved before
the slow check they guard.

Every attempt first takes a slot with one atomic upsert (`INSERT … ON CONFLICT DO UPDATE
… WHERE failures < limit RETURNING`), so N concurrent guesses at one account check at most
the limit passwords; the row lock of the upsert orders them. A success gives its slot back.

Keys (one row each, fixed window of `UsersSettings.throttle_window_seconds`):

- `account:<email>`: failed sign-ins at the account from anywhere. At the limit the
  account refuses sign-in for the rest of the window (distributed guessing is bounded).
  A correct password clears it: the owner proved knowledge.
- `address:<client>`: failed sign-ins from one address. Over its budget the address is
  not locked out: it may still sign in to an account that has no failure in the window
  (an account not under attack), so a campus NAT, or a developer behind 127.0.0.1, does
  not lock every account. It gets one guess per untouched account, and none at an
  account someone already guessed at.
- `register:<client>`: registrations tried from one address (each one hashes a password).
- `refresh:<client>`: refresh tokens refused for one address.

IPv6 clients are counted per /64, the block one subscriber usually holds.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from coursegraph.addresses import parse_ip
from coursegraph.db import Database
from coursegraph.errors import BadUserInput, RateLimited
from subgraphs.users.models import LoginFailure
from subgraphs.users.settings import UsersSettings

TOO_MANY_SIGN_INS = "Too many failed sign-in attempts; try again later."
TOO_MANY_REGISTRATIONS = "Too many registrations from your address; try again later."
TOO_MANY_REFRESHES = "Too many refused refresh tokens from your address; try again later."


def address_key(address: str) -> str:
    """The counted form of a client address: the address itself, or its IPv6 /64."""
    parsed = parse_ip(address)
    if parsed is None:
        raise BadUserInput(f"{address!r} is not an IP address.", field="address")
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


@dataclass(frozen=True, slots=True)
class SignInSlot:
    """Slots taken for one sign-in attempt, given back or cleared after the check."""

    account: str
    address: str | None


class Throttle:
    def __init__(self, database: Database, settings: UsersSettings, window_seconds: int) -> None:
        self._db = database
        self._settings = settings
        self._window = timedelta(seconds=window_seconds)

    # ------------------------------------------------------------------ sign-in
    async def reserve_sign_in(self, email: str, client_address: str | None) -> SignInSlot:
        s = self._settings
        account = f"account:{email}"
        address = f"address:{address_key(client_address)}" if client_address else None
        async with self._db.transaction() as session:
            # Always account then address: one fixed lock order, so no deadlock.
            failures = await self._take(session, account, s.login_max_failures_per_email)
            if failures is None:
                raise await self._refusal(session, account, TOO_MANY_SIGN_INS)
            if address is not None:
                from_address = await self._take(session, address, None)
                over_budget = (from_address or 0) > s.login_max_failures_per_address
                if over_budget and failures > 1:
                    # Allowed again when either window ends. Leaving the block by an
                    # exception rolls both slots back.
                    refusals = [
                        await self._refusal(session, key, TOO_MANY_SIGN_INS)
                        for key in (account, address)
                    ]
                    raise min(refusals, key=lambda refusal: refusal.retry_after_seconds)
        return SignInSlot(account, address)

    async def sign_in_succeeded(self, slot: SignInSlot) -> None:
        async with self._db.transaction() as session:
            await session.execute(delete(LoginFailure).where(LoginFailure.key == slot.account))
            if slot.address is not None:
                await self._give_back(session, slot.address)

    # ------------------------------------------------------------------ others
    async def reserve_registration(self, client_address: str | None) -> None:
        """Count a registration attempt (kept whatever its outcome)."""
        if client_address is None:
            return
        key = f"register:{address_key(client_address)}"
        async with self._db.transaction() as session:
            if await self._take(session, key, self._settings.register_max_per_address) is None:
                raise await self._refusal(session, key, TOO_MANY_REGISTRATIONS)

    async def reserve_refresh(self, client_address: str | None) -> str | None:
        """A slot for one refresh attempt; give it back with `refresh_succeeded`."""
        if client_address is None:
            return None
        key = f"refresh:{address_key(client_address)}"
        async with self._db.transaction() as session:
            limit = self._settings.login_max_failures_per_address
            if await self._take(session, key, limit) is None:
                raise await self._refusal(session, key, TOO_MANY_REFRESHES)
        return key

    async def refresh_succeeded(self, key: str | None) -> None:
        if key is not None:
            async with self._db.transaction() as session:
                await self._give_back(session, key)

    async def unlock(self, *, email: str | None = None, address: str | None = None) -> int:
        """Forget the counters of an account and/or an address; how many were cleared."""
        keys: list[str] = []
        if email is not None:
            keys.append(f"account:{email}")
        if address is not None:
            counted = address_key(address)
            keys += [f"{kind}:{counted}" for kind in ("address", "register", "refresh")]
        if not keys:
            return 0
        async with self._db.transaction() as session:
            result = await session.execute(delete(LoginFailure).where(LoginFailure.key.in_(keys)))
        return int(getattr(result, "rowcount", 0) or 0)

    async def forget_expired(self, batch: int) -> int:
        """Delete up to `batch` counts whose window has ended; how many went.

        Every guessed email and every client address leaves a row; without this the table
        grows with each new name an attacker tries. Instances share the work (SKIP LOCKED).
        """
        ended = datetime.now(UTC) - self._window
        expired = (
            select(LoginFailure.key)
            .where(LoginFailure.window_started_at <= ended)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        async with self._db.transaction() as session:
            result = await session.execute(
                delete(LoginFailure).where(LoginFailure.key.in_(expired.scalar_subquery()))
            )
        return int(getattr(result, "rowcount", 0) or 0)

    # ------------------------------------------------------------------ counters
    async def _take(self, session: AsyncSession, key: str, limit: int | None) -> int | None:
        """Count one attempt atomically; its number in the window, or None at the limit."""
        now = datetime.now(UTC)
        expired = LoginFailure.window_started_at <= now - self._window
        statement = insert(LoginFailure).values(key=key, failures=1, window_started_at=now)
        statement = statement.on_conflict_do_update(
            index_elements=[LoginFailure.key],
            set_={
                "failures": case((expired, 1), else_=LoginFailure.failures + 1),
                "window_started_at": case((expired, now), else_=LoginFailure.window_started_at),
            },
            where=None if limit is None else (expired | (LoginFailure.failures < limit)),
        )
        taken: int | None = await session.scalar(statement.returning(LoginFailure.failures))
        return taken

    async def _give_back(self, session: AsyncSession, key: str) -> None:
        await session.execute(
            update(LoginFailure)
            .where(LoginFailure.key == key)
            .values(failures=func.greatest(LoginFailure.failures - 1, 0))
        )

    async def _refusal(self, session: AsyncSession, key: str, message: str) -> RateLimited:
        started = await session.scalar(
            select(LoginFailure.window_started_at).where(LoginFailure.key == key)
        )
        now = datetime.now(UTC)
        ends = (started or now) + self._window
        return RateLimited(message, max(1, int((ends - now).total_seconds())))
