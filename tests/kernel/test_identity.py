"""JWKS caching: refetch only for an unknown kid, and not more often than allowed."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from coursegraph.errors import Unauthenticated
from coursegraph.identity import (
    JWKSCache,
    RevocationList,
    TokenVerifier,
    VerifiedTokens,
    bearer_token,
)


def _jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    return {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": kid, "alg": "RS256"}


def _token(key: rsa.RSAPrivateKey, kid: str, sub: str = "u1") -> str:
    now = int(time.time())
    claims = {
        "sub": sub,
        "role": "TEACHER",
        "scope": "profile teach",
        "iss": "iss",
        "aud": "aud",
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


class Source:
    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.calls = 0

    async def __call__(self) -> dict[str, Any]:
        self.calls += 1
        return {"keys": list(self.keys)}


async def test_refetches_only_for_an_unknown_kid() -> None:
    first, second = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in "ab")
    source = Source()
    source.keys = [_jwk(first, "k1")]
    now = [0.0]
    cache = JWKSCache(source, min_refresh_seconds=10, clock=lambda: now[0])
    verifier = TokenVerifier(cache, algorithm="RS256", issuer="iss", audience="aud")

    viewer = await verifier.verify(_token(first, "k1"))
    assert (viewer.id, viewer.role, viewer.scopes) == (
        "u1",
        "TEACHER",
        frozenset({"profile", "teach"}),
    )
    await verifier.verify(_token(first, "k1"))
    assert source.calls == 1

    source.keys.append(_jwk(second, "k2"))
    with pytest.raises(Unauthenticated):  # inside the refresh interval: no refetch yet
        await verifier.verify(_token(second, "k2"))
    assert source.calls == 1
    now[0] = 11.0
    assert (await verifier.verify(_token(second, "k2"))).id == "u1"
    assert source.calls == 2


async def test_algorithm_is_pinned() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    source = Source()
    source.keys = [_jwk(key, "k1")]
    verifier = TokenVerifier(JWKSCache(source), algorithm="EdDSA", issuer="iss", audience="aud")
    with pytest.raises(Unauthenticated, match="not signed as expected"):
        await verifier.verify(_token(key, "k1"))
    assert source.calls == 0


class CountingKeys(JWKSCache):
    """Counts key look-ups: one per token whose signature is actually checked."""

    lookups = 0

    async def key(self, kid: str) -> jwt.PyJWK | None:
        self.lookups += 1
        return await super().key(kid)


class Revocations:
    def __init__(self) -> None:
        self.not_before: dict[str, int] = {}

    async def __call__(self) -> dict[str, int]:
        return dict(self.not_before)


def _cached_verifier(
    cache: VerifiedTokens | None = None,
) -> tuple[TokenVerifier, CountingKeys, Revocations, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    source = Source()
    source.keys = [_jwk(key, "k1")]
    keys = CountingKeys(source)
    revocations = Revocations()
    verifier = TokenVerifier(
        keys,
        algorithm="RS256",
        issuer="iss",
        audience="aud",
        revocations=RevocationList(revocations, poll_seconds=0),
        cache=cache,
    )
    return verifier, keys, revocations, key


async def test_a_verified_token_is_checked_once_per_process() -> None:
    verifier, keys, _, key = _cached_verifier()
    token = _token(key, "k1")
    for _ in range(5):
        assert (await verifier.verify(token)).id == "u1"
    assert keys.lookups == 1
    await verifier.verify(_token(key, "k1"))
    assert keys.lookups == 2


async def test_a_cached_token_of_a_revoked_user_is_refused() -> None:
    verifier, _, revocations, key = _cached_verifier()
    token, other = _token(key, "k1"), _token(key, "k1", sub="u2")
    await verifier.verify(token)
    await verifier.verify(other)
    revocations.not_before["u1"] = int(time.time())
    with pytest.raises(Unauthenticated, match="sign in again"):
        await verifier.verify(token)
    assert (await verifier.verify(other)).id == "u2"


async def test_an_altered_token_is_no_cache_hit() -> None:
    verifier, _, _, key = _cached_verifier()
    token = _token(key, "k1")
    await verifier.verify(token)
    head, payload, signature = token.split(".")
    forged = ".".join(
        [head, payload, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")]
    )
    with pytest.raises(Unauthenticated, match="invalid"):
        await verifier.verify(forged)
    with pytest.raises(Unauthenticated, match="malformed"):
        await verifier.verify("not-a-token")


async def test_cached_tokens_expire_and_stay_bounded() -> None:
    now = [1000.0]
    cache = VerifiedTokens(3, clock=lambda: now[0])
    verifier, keys, _, key = _cached_verifier(cache)
    tokens = [_token(key, "k1", sub=f"u{i}") for i in range(4)]
    for token in tokens:
        await verifier.verify(token)
    assert len(cache) == 3
    await verifier.verify(tokens[0])  # the least recently used was dropped
    assert keys.lookups == 5
    expires = max(e.valid_until for e in cache._entries.values())
    now[0] = expires
    assert cache.get(VerifiedTokens.key(tokens[0])) is None
    assert cache.get(VerifiedTokens.key(tokens[3])) is None


def test_bearer_header_parsing() -> None:
    assert bearer_token(None) is None
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    with pytest.raises(Unauthenticated):
        bearer_token("Basic abc")
