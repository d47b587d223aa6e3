"""Refresh-token rotation, reuse detection, logout, and access-token verification."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from subgraphs.users.settings import UsersSettings
from tests.helpers import gql
from tests.users.test_accounts import LOGIN, ME, register

REFRESH = """
mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken user { id } } }"""
LOGOUT = "mutation($t: String!) { logout(refreshToken: $t) }"
CREDENTIALS = {"email": "ada@example.com", "password": "correct horse"}


async def test_refresh_rotates_the_token(users_url: str) -> None:
    ada = await register(users_url)
    first = (await gql(users_url, REFRESH, {"t": ada["refreshToken"]})).ok()["refreshToken"]
    assert first["refreshToken"] != ada["refreshToken"]
    assert first["user"]["id"] == ada["user"]["id"]
    second = (await gql(users_url, REFRESH, {"t": first["refreshToken"]})).ok()["refreshToken"]
    me = (await gql(users_url, ME, token=second["accessToken"])).ok()["me"]
    assert me["id"] == ada["user"]["id"]


async def test_reusing_a_rotated_token_revokes_the_family(users_url: str) -> None:
    ada = await register(users_url)
    rotated = (await gql(users_url, REFRESH, {"t": ada["refreshToken"]})).ok()["refreshToken"]
    reuse = await gql(users_url, REFRESH, {"t": ada["refreshToken"]})
    assert reuse.code == "UNAUTHENTICATED"
    # The thief's replay also ends the legitimate holder's newer token.
    newer = await gql(users_url, REFRESH, {"t": rotated["refreshToken"]})
    assert newer.code == "UNAUTHENTICATED"


async def test_other_sessions_survive_a_revoked_family(users_url: str) -> None:
    ada = await register(users_url)
    other = (await gql(users_url, LOGIN, CREDENTIALS)).ok()["login"]["refreshToken"]
    await gql(users_url, REFRESH, {"t": ada["refreshToken"]})
    await gql(users_url, REFRESH, {"t": ada["refreshToken"]})  # reuse: family revoked
    (await gql(users_url, REFRESH, {"t": other})).ok()


async def test_logout_revokes_the_session(users_url: str) -> None:
    ada = await register(users_url)
    assert (await gql(users_url, LOGOUT, {"t": ada["refreshToken"]})).ok() == {"logout": True}
    assert (await gql(users_url, LOGOUT, {"t": ada["refreshToken"]})).ok() == {"logout": False}
    refused = await gql(users_url, REFRESH, {"t": ada["refreshToken"]})
    assert refused.code == "UNAUTHENTICATED"


async def test_unknown_refresh_token_is_refused(users_url: str) -> None:
    assert (await gql(users_url, REFRESH, {"t": "made-up"})).code == "UNAUTHENTICATED"


async def test_jwks_publishes_the_signing_key(users_url: str) -> None:
    ada = await register(users_url)
    async with httpx.AsyncClient() as client:
        jwks = (await client.get(users_url.replace("/graphql", "/.well-known/jwks.json"))).json()
    kid = jwt.get_unverified_header(ada["accessToken"])["kid"]
    key = next(k for k in jwks["keys"] if k["kid"] == kid)
    assert key["alg"] == "RS256"
    assert "d" not in key  # public parts only
    claims = jwt.decode(
        ada["accessToken"],
        jwt.PyJWK(key).key,
        algorithms=["RS256"],
        audience="coursegraph",
        issuer="coursegraph-users",
    )
    assert claims["sub"] == ada["user"]["id"]
    assert claims["role"] == "STUDENT"
    assert set(claims) >= {"sub", "role", "scope", "iss", "aud", "iat", "exp", "jti"}


def _b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(user_id: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": user_id,
        "role": "ADMIN",
        "scope": "profile",
        "iss": "coursegraph-users",
        "aud": "coursegraph",
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        **overrides,
    }


async def _me_code(users_url: str, token: str) -> str:
    return (await gql(users_url, ME, token=token)).code


async def test_bad_tokens_are_refused(users_url: str) -> None:
    ada = await register(users_url)
    user_id = ada["user"]["id"]
    kid = jwt.get_unverified_header(ada["accessToken"])["kid"]
    stranger_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    forged = jwt.encode(_claims(user_id), stranger_key, algorithm="RS256", headers={"kid": kid})
    unknown_kid = jwt.encode(_claims(user_id), stranger_key, "RS256", headers={"kid": "nope"})
    alg_none = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{_b64(_claims(user_id))}."
    async with httpx.AsyncClient() as client:
        jwks = (await client.get(users_url.replace("/graphql", "/.well-known/jwks.json"))).json()
    public_pem = jwt.PyJWK(jwks["keys"][0]).key.public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    # HS/RS confusion: an HMAC "signed" with the public key as the secret.
    header = _b64({"alg": "HS256", "typ": "JWT", "kid": kid})
    payload = _b64(_claims(user_id))
    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    confused = f"{header}.{payload}.{_b64(mac)}"
    tampered_parts = ada["accessToken"].split(".")
    tampered_parts[1] = _b64(_claims(user_id, role="ADMIN"))
    tampered = ".".join(tampered_parts)

    for token in [forged, unknown_kid, alg_none, confused, tampered, "garbage", "a.b.c"]:
        assert await _me_code(users_url, token) == "UNAUTHENTICATED", token


async def test_expired_token_is_refused(
    users_url: str, settings: Any, users_section: UsersSettings
) -> None:
    from subgraphs.users.bootstrap import key_store

    ada = await register(users_url)
    store = key_store(settings, users_section)
    store.load(create=False)
    expired = store.sign(
        {"sub": ada["user"]["id"], "role": "STUDENT", "scope": "profile"},
        issuer="coursegraph-users",
        audience="coursegraph",
        ttl_seconds=-120,  # beyond the 30 s leeway
    )
    result = await gql(users_url, ME, token=expired)
    assert result.code == "UNAUTHENTICATED"
    assert "expired" in result.errors[0]["message"]


async def test_wrong_audience_is_refused(
    users_url: str, settings: Any, users_section: UsersSettings
) -> None:
    from subgraphs.users.bootstrap import key_store

    ada = await register(users_url)
    store = key_store(settings, users_section)
    store.load(create=False)
    token = store.sign(
        {"sub": ada["user"]["id"], "role": "STUDENT", "scope": ""},
        issuer="coursegraph-users",
        audience="someone-else",
        ttl_seconds=300,
    )
    assert await _me_code(users_url, token) == "UNAUTHENTICATED"


async def test_malformed_authorization_header(users_url: str) -> None:
    result = await gql(users_url, ME, headers={"authorization": "Basic abc"})
    assert result.code == "UNAUTHENTICATED"


async def test_key_rotation_keeps_old_tokens_valid(
    users_url: str, settings: Any, users_section: UsersSettings
) -> None:
    from subgraphs.users.bootstrap import key_store

    ada = await register(users_url)
    old_kid = jwt.get_unverified_header(ada["accessToken"])["kid"]
    store = key_store(
        settings, users_section
    )  # as `coursegraph users rotate-keys` does, beside the server
    store.load(create=False)
    new_kid = store.rotate().kid

    fresh = (await gql(users_url, LOGIN, CREDENTIALS)).ok()["login"]["accessToken"]
    assert jwt.get_unverified_header(fresh)["kid"] == new_kid
    async with httpx.AsyncClient() as client:
        jwks = (await client.get(users_url.replace("/graphql", "/.well-known/jwks.json"))).json()
    assert {old_kid, new_kid} <= {k["kid"] for k in jwks["keys"]}
    for token in (ada["accessToken"], fresh):
        (await gql(users_url, ME, token=token)).ok()
