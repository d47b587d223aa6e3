"""Access-token verification against users' JWKS, with the algorithm pinned, and
users' list of recent revocations (role changes, deleted accounts).

The key set is cached and fetched again only when a token names an unknown `kid`
(at most once per `min_refresh_seconds`, so a flood of bad tokens cannot hammer users).
A verified token is remembered until it expires, so the RS256 check runs once per token
and process; the revocation list is consulted on every use all the same.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx
import jwt
from jwt import PyJWK

from coursegraph.errors import Unauthenticated
from coursegraph.http import signed_client
from coursegraph.log import get_logger
from coursegraph.settings import Settings


class Role(StrEnum):
    """An account's role: users stores it, tokens carry it, every subgraph checks it."""

    STUDENT = "STUDENT"
    TEACHER = "TEACHER"
    ADMIN = "ADMIN"


ROLES = tuple(Role)
# The scopes users puts in each role's tokens; what `@requiresScopes` fields check.
ROLE_SCOPES: dict[str, frozenset[str]] = {
    Role.STUDENT: frozenset(("profile", "learn")),
    Role.TEACHER: frozenset(("profile", "learn", "teach")),
    Role.ADMIN: frozenset(("profile", "learn", "teach", "admin")),
}
JWKSSource = Callable[[], Awaitable[dict[str, Any]]]
# User id → unix second at or before which that user's access tokens are refused.
RevocationSource = Callable[[], Awaitable[dict[str, int]]]
# Served by users to signed services only.
REVOCATIONS_PATH = "/token-revocations"
log = get_logger("coursegraph.identity")


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in user a request acts for."""

    id: str
    role: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    # The token's `exp` (unix seconds), when the viewer came from a token: long-lived
    # streams (subscriptions) end when it passes. Not part of the viewer's identity.
    expires_at: int | None = field(default=None, compare=False)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def is_self_or_admin(self, user_id: object) -> bool:
        return self.is_admin or str(user_id) == self.id


def scope_claim(role: str) -> str:
    """The `scope` claim of a token for `role` (space separated)."""
    return " ".join(sorted(ROLE_SCOPES[role]))


def _either(names: Sequence[str]) -> str:
    return " or ".join(names) if names else "no role has it"


def _all_of(kind: str, names: Collection[str]) -> str:
    listed = " and ".join(f"`{n}`" for n in sorted(names))
    return f"{kind}{'s' if len(names) > 1 else ''} {listed}"


def scopes_requirement(alternatives: Sequence[Collection[str]]) -> str:
    """What `@requiresScopes(scopes: alternatives)` asks, and which roles' tokens hold it:
    "scope `teach` (TEACHER or ADMIN)"."""
    wanted = " or ".join(_all_of("scope", set(needed)) for needed in alternatives)
    holders = [r for r in ROLES if any(set(n) <= ROLE_SCOPES[r] for n in alternatives)]
    return f"{wanted} ({_either(holders)})"


def policies_requirement(alternatives: Sequence[Collection[str]], holders: Sequence[str]) -> str:
    wanted = " or ".join(_all_of("policy", set(needed)) for needed in alternatives)
    return f"{wanted} ({_either(holders)})"


def access_refusal(coordinate: str, signed_in: bool, requirements: Sequence[str] = ()) -> str:
    """The one wording of an authorization refusal, at the router and in the subgraphs:
    the field, then what it needs and who has it."""
    needs = " and ".join(requirements)
    if not signed_in:
        return f"{coordinate} needs a signed-in user" + (f" with {needs}." if needs else ".")
    return f"{coordinate} needs {needs}."


class JWKSCache:
    def __init__(
        self,
        source: JWKSSource,
        *,
        min_refresh_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._min_refresh = min_refresh_seconds
        self._clock = clock
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> PyJWK | None:
        found = self._keys.get(kid)
        if found is not None:
            return found
        async with self._lock:
            found = self._keys.get(kid)
            recently = (
                self._fetched_at is not None
                and self._clock() - self._fetched_at < self._min_refresh
            )
            if found is None and not recently:
                await self._refresh()
                found = self._keys.get(kid)
        return found

    async def _refresh(self) -> None:
        document = await self._source()
        keys: dict[str, PyJWK] = {}
        for entry in document.get("keys", []):
            kid = entry.get("kid")
            if not kid:
                continue
            try:
                keys[kid] = PyJWK(entry)
            except jwt.PyJWTError:
                continue
        self._keys = keys
        self._fetched_at = self._clock()


class RevocationList:
    """Users whose access tokens issued at or before a second are refused (a role change,
    a deleted account), fetched again from users at most every `poll_seconds` while
    tokens are verified. So a change reaches every instance within `poll_seconds` plus one
    fetch; when users cannot be reached the last list stays in force and is asked again
    on the next poll."""

    def __init__(
        self,
        source: RevocationSource,
        *,
        poll_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._poll = poll_seconds
        self._clock = clock
        self._not_before: dict[str, int] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def not_before(self, subject: str) -> int | None:
        if self._is_stale():
            async with self._lock:
                if self._is_stale():
                    await self._refresh()
        return self._not_before.get(subject)

    def _is_stale(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self._poll

    async def _refresh(self) -> None:
        try:
            self._not_before = await self._source()
        except (httpx.HTTPError, ValueError) as error:
            log.warning("token revocations unavailable; the last list stays", error=str(error))
        self._fetched_at = self._clock()


@dataclass(frozen=True, slots=True)
class _Verified:
    viewer: Viewer
    issued_at: int
    valid_until: float  # unix seconds: `exp` plus the leeway the decode allows


class VerifiedTokens:
    """Tokens whose signature and claims were checked, by SHA-256 of the token, each until
    it expires; least recently used dropped beyond `max_entries`. Keyed by a hash so the
    cache never holds a usable credential."""

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.time) -> None:
        self._entries: OrderedDict[bytes, _Verified] = OrderedDict()
        self._max = max_entries
        self._clock = clock

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def key(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def get(self, key: bytes) -> _Verified | None:
        found = self._entries.get(key)
        if found is None:
            return None
        if found.valid_until <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return found

    def put(self, key: bytes, verified: _Verified) -> None:
        if self._max <= 0:
            return
        self._entries[key] = verified
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


class TokenVerifier:
    def __init__(
        self,
        keys: JWKSCache,
        *,
        algorithm: str,
        issuer: str,
        audience: str,
        leeway_seconds: int = 30,
        revocations: RevocationList | None = None,
        cache: VerifiedTokens | None = None,
    ) -> None:
        self._keys = keys
        self._algorithm = algorithm
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds
        self._revocations = revocations
        self._cache = cache if cache is not None else VerifiedTokens(10_000)

    async def verify(self, token: str) -> Viewer:
        viewer, _ = await self.verify_until(token)
        return viewer

    async def verify_until(self, token: str) -> tuple[Viewer, float]:
        """The viewer and the unix time the token stops being accepted (`exp` plus the
        leeway): what a long-lived connection (a subscription socket) must close at."""
        key = VerifiedTokens.key(token)
        verified = self._cache.get(key)
        if verified is None:
            verified = await self._verify_signed(token)
            self._cache.put(key, verified)
        # Revocations change after a token is cached, so they are checked on every use.
        if self._revocations is not None:
            not_before = await self._revocations.not_before(verified.viewer.id)
            if not_before is not None and verified.issued_at <= not_before:
                raise Unauthenticated(
                    "The account changed after this access token was issued; sign in again."
                )
        return verified.viewer, verified.valid_until

    async def _verify_signed(self, token: str) -> _Verified:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("The access token is malformed.") from None
        # Pin the algorithm before touching keys: no `none`, no HS/RS confusion.
        if header.get("alg") != self._algorithm:
            raise Unauthenticated("The access token is not signed as expected.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("The access token has no key id.")
        key = await self._keys.key(kid)
        if key is None:
            raise Unauthenticated("The access token was signed by an unknown key.")
        try:
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=[self._algorithm],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": ["sub", "exp", "iat", "iss", "aud", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("The access token has expired.") from None
        except jwt.PyJWTError:
            raise Unauthenticated("The access token is invalid.") from None
        role = claims.get("role")
        if role not in ROLES:
            raise Unauthenticated("The access token carries no valid role.")
        scope = claims.get("scope") or ""
        viewer = Viewer(
            id=str(claims["sub"]),
            role=role,
            scopes=frozenset(str(scope).split()),
            expires_at=int(claims["exp"]),
        )
        return _Verified(viewer, int(claims["iat"]), int(claims["exp"]) + self._leeway)


def jwks_over_http(url: str) -> JWKSSource:
    """Users' JWKS fetched over HTTP (every process but users itself)."""

    async def fetch() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=5.0) as client:
            response = await client.get(url)
            response.raise_for_status()
            document: dict[str, Any] = response.json()
            return document

    return fetch


def revocations_over_http(
    settings: Settings, service: str, users_url: str | None = None
) -> RevocationSource:
    """Users' recent token revocations, asked for with a request signed as `service`."""
    base_url = users_url or settings.service_url("users")

    async def fetch() -> dict[str, int]:
        async with signed_client(settings, service, base_url) as client:
            response = await client.get(REVOCATIONS_PATH)
            response.raise_for_status()
            document = response.json()
        revocations = document.get("revocations") if isinstance(document, dict) else None
        if not isinstance(revocations, dict):
            raise ValueError("users answered no revocation list")
        return {str(sub): int(second) for sub, second in revocations.items()}

    return fetch


def verifier_from_settings(
    settings: Settings,
    source: JWKSSource | None = None,
    *,
    service: str,
    revocations: RevocationSource | None = None,
    min_refresh_seconds: float | None = None,
) -> TokenVerifier:
    """The token verifier every process uses: algorithm, issuer, audience from settings;
    revocations from users (signed as `service`) unless a local source is given."""
    keys = JWKSCache(
        source or jwks_over_http(settings.resolved_jwks_url),
        min_refresh_seconds=(
            settings.jwks_min_refresh_seconds
            if min_refresh_seconds is None
            else min_refresh_seconds
        ),
    )
    return TokenVerifier(
        keys,
        algorithm=settings.jwt_algorithm,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway_seconds=settings.jwt_leeway_seconds,
        cache=VerifiedTokens(settings.token_cache_size),
        revocations=RevocationList(
            revocations or revocations_over_http(settings, service),
            poll_seconds=settings.token_revocation_poll_seconds,
        ),
    )


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("The Authorization header must be 'Bearer <token>'.")
    return token.strip()
