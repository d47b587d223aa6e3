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
from coursegraph.identity import JWKSCache, TokenVerifier, bearer_token


def _jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    return {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": kid, "alg": "RS256"}


def _token(key: rsa.RSAPrivateKey, kid: str) -> str:
    now = int(time.time())
    claims = {
        "sub": "u1",
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


def test_bearer_header_parsing() -> None:
    assert bearer_token(None) is None
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    with pytest.raises(Unauthenticated):
        bearer_token("Basic abc")
