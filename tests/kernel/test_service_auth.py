"""The HMAC contract of ARCHITECTURE.md, checked piece by piece."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time

import pytest

from coursegraph.service_auth import (
    NONCE_BATCH,
    MemoryNonceStore,
    RedisNonceStore,
    ServiceAuthError,
    ServiceSigner,
    ServiceVerifier,
    SignedRoute,
    new_nonce,
)
from coursegraph.settings import Settings

KEYS = {"payments": b"payments-key", "courses": b"courses-key"}
BODY = b'{"query":"{ x }"}'


def verifier(now: float = 1_764_115_200) -> ServiceVerifier:
    return ServiceVerifier(KEYS, MemoryNonceStore(), clock=lambda: now)


def signed(service: str = "payments", timestamp: int = 1_764_115_200) -> dict[str, str]:
    return ServiceSigner(service, KEYS.get(service, b"x")).headers(
        "POST", "/graphql", BODY, timestamp=timestamp
    )


def test_signature_matches_the_documented_canonical_string() -> None:
    headers = signed()
    canonical = "\n".join(
        [
            "POST",
            "/graphql",
            headers["x-service-timestamp"],
            headers["x-service-nonce"],
            hashlib.sha256(BODY).hexdigest(),
        ]
    )
    expected = hmac.new(b"payments-key", canonical.encode(), hashlib.sha256).hexdigest()
    assert headers["x-service-signature"] == f"v1={expected}"
    assert headers["x-service-name"] == "payments"


async def test_valid_signature_names_the_caller() -> None:
    assert await verifier().verify("POST", "/graphql", signed(), BODY) == "payments"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda h: {}, "missing"),
        (lambda h: {**h, "x-service-name": "mallory"}, "unknown service"),
        (lambda h: {**h, "x-service-name": "courses"}, "bad service signature"),
        (lambda h: {**h, "x-service-signature": "v1=" + "0" * 64}, "bad service signature"),
        (lambda h: {**h, "x-service-timestamp": "soon"}, "malformed"),
    ],
)
async def test_bad_headers_are_refused(mutate: object, reason: str) -> None:
    with pytest.raises(ServiceAuthError, match=reason):
        await verifier().verify("POST", "/graphql", mutate(signed()), BODY)  # type: ignore[operator]


async def test_stale_and_future_timestamps_are_refused() -> None:
    for skew in (-301, 301):
        headers = signed(timestamp=1_764_115_200 + skew)
        with pytest.raises(ServiceAuthError, match="stale"):
            await verifier().verify("POST", "/graphql", headers, BODY)
    inside = signed(timestamp=1_764_115_200 - 299)
    assert await verifier().verify("POST", "/graphql", inside, BODY) == "payments"


async def test_replayed_nonce_is_refused() -> None:
    v = verifier()
    headers = signed()
    await v.verify("POST", "/graphql", headers, BODY)
    with pytest.raises(ServiceAuthError, match="replayed"):
        await v.verify("POST", "/graphql", headers, BODY)


async def test_tampering_is_detected() -> None:
    v = verifier()
    with pytest.raises(ServiceAuthError, match="bad service signature"):
        await v.verify("POST", "/graphql", signed(), BODY + b" ")
    with pytest.raises(ServiceAuthError, match="bad service signature"):
        await v.verify("POST", "/graphql/other", signed(), BODY)
    with pytest.raises(ServiceAuthError, match="bad service signature"):
        await v.verify("GET", "/graphql", signed(), BODY)


async def test_forged_signature_does_not_burn_the_nonce() -> None:
    v = verifier()
    headers = signed()
    with pytest.raises(ServiceAuthError):
        await v.verify("POST", "/graphql", {**headers, "x-service-signature": "v1=00"}, BODY)
    assert await v.verify("POST", "/graphql", headers, BODY) == "payments"


def test_nonces_are_128_bit_hex_and_never_repeat_across_batches() -> None:
    nonces = [new_nonce() for _ in range(3 * NONCE_BATCH + 1)]
    assert len(set(nonces)) == len(nonces)
    assert all(len(n) == 32 and int(n, 16) >= 0 for n in nonces)


@pytest.mark.parametrize("key", [KEYS["payments"], b"k" * 64, b"long-key" * 20])
async def test_a_signed_route_frames_the_headers_the_verifier_accepts(key: bytes) -> None:
    route = SignedRoute(ServiceSigner("payments", key), "post", "/graphql")
    first, second = route.lines(BODY), route.lines(BODY)
    assert first.endswith(b"\r\n")
    assert first != second
    headers = dict(
        line.split(": ", 1) for line in first.decode().removesuffix("\r\n").split("\r\n")
    )
    assert list(headers) == [
        "x-service-name",
        "x-service-timestamp",
        "x-service-nonce",
        "x-service-signature",
    ]
    v = ServiceVerifier({"payments": key}, MemoryNonceStore(), clock=time.time)
    assert await v.verify("POST", "/graphql", headers, BODY) == "payments"
    with pytest.raises(ServiceAuthError, match="bad service signature"):
        await v.verify("POST", "/graphql", headers, BODY + b" ")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_memory_store_refuses_a_replay_until_the_window_ends() -> None:
    clock = Clock()
    store = MemoryNonceStore(clock)
    assert await store.claim("payments", "n" * 32, 600)
    clock.now += 599.9
    assert not await store.claim("payments", "n" * 32, 600)
    # The same nonce from another caller is another key.
    assert await store.claim("courses", "n" * 32, 600)
    clock.now += 0.1
    assert await store.claim("payments", "n" * 32, 600)
    assert not await store.claim("payments", "n" * 32, 600)


async def test_memory_store_releases_expired_nonces() -> None:
    clock = Clock()
    store = MemoryNonceStore(clock)
    for i in range(50_000):
        assert await store.claim("payments", f"{i:032d}", 600)
        clock.now += 0.001
    assert len(store) == 50_000
    clock.now += 600
    assert await store.claim("payments", "late" * 8, 600)
    assert len(store) == 1


async def test_memory_store_with_many_live_nonces_refuses_each_replay() -> None:
    clock = Clock()
    store = MemoryNonceStore(clock)
    nonces = [f"{i:032x}" for i in range(40_000)]
    for i, nonce in enumerate(nonces):
        clock.now = i / 200  # 200 a second for 200 s, each live for 100 s
        assert await store.claim("payments", nonce, 100)
    live = [n for i, n in enumerate(nonces) if i / 200 + 100 > clock.now]
    expired = nonces[: len(nonces) - len(live)]
    assert live
    assert expired
    assert len(store) == len(live)
    for nonce in live:
        assert not await store.claim("payments", nonce, 100)
    for nonce in expired:
        assert await store.claim("payments", nonce, 100)


async def test_memory_store_grants_a_nonce_once_to_concurrent_claims() -> None:
    store = MemoryNonceStore()
    granted = await asyncio.gather(*(store.claim("payments", "r" * 32, 600) for _ in range(200)))
    assert granted.count(True) == 1


async def test_memory_store_keeps_a_long_ttl_behind_a_shorter_one() -> None:
    clock = Clock()
    store = MemoryNonceStore(clock)
    assert await store.claim("payments", "long" * 8, 600)
    assert await store.claim("payments", "short" * 8, 10)
    clock.now += 11
    assert await store.claim("payments", "short" * 8, 10)
    assert not await store.claim("payments", "long" * 8, 600)


async def test_redis_nonce_store_is_shared(redis_url: str) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url)
    try:
        first = ServiceVerifier(KEYS, RedisNonceStore(redis), clock=lambda: 1_764_115_200)
        second = ServiceVerifier(KEYS, RedisNonceStore(redis), clock=lambda: 1_764_115_200)
        headers = signed()
        assert await first.verify("POST", "/graphql", headers, BODY) == "payments"
        with pytest.raises(ServiceAuthError, match="replayed"):
            await second.verify("POST", "/graphql", headers, BODY)
    finally:
        await redis.aclose()


def test_keys_are_derived_per_service_unless_set() -> None:
    settings = Settings(_env_file=None, service_secret_key="s", service_key_payments="explicit")
    assert settings.service_key("payments") == b"explicit"
    assert settings.service_key("courses") != settings.service_key("files")
    assert len(settings.service_key("router")) == 32
    with pytest.raises(KeyError):
        settings.service_key("mallory")


def test_production_refuses_the_development_secret() -> None:
    with pytest.raises(ValueError, match="SERVICE_SECRET_KEY"):
        Settings(_env_file=None, COURSEGRAPH_ENV="production")
    Settings(_env_file=None, COURSEGRAPH_ENV="production", service_secret_key="real")
