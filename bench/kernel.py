"""Micro-benchmarks of kernel hot paths (docs/benchmarks.md, "Kernel micro-benchmarks").

    .venv/bin/python bench/kernel.py nonce            # HMAC nonce claims at N live nonces
    .venv/bin/python bench/kernel.py token            # access-token verification, repeated
    DATABASE_URL=... .venv/bin/python bench/kernel.py db   # one-row reads through Database

Each figure is CPU time of this process per operation (time.process_time), the median
of --rounds rounds, so other work on the machine disturbs it little. Run it with
PYTHONPATH pointing at another checkout to measure that checkout's code.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator


async def cpu_per_op(op: Callable[[], Awaitable[object]], count: int, rounds: int) -> float:
    """Median CPU microseconds per call of `op`, over `rounds` rounds of `count` calls."""
    results = []
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(count):
            await op()
        results.append((time.process_time() - start) / count * 1e6)
    return statistics.median(results)


async def bench_nonce(rounds: int) -> None:
    from coursegraph.service_auth import MemoryNonceStore

    print("nonce store: CPU µs per claim with N live nonces (window 600 s)")
    for live in (1_000, 9_000, 40_000, 200_000):
        store = MemoryNonceStore()
        for i in range(live):
            await store.claim("router", f"fill-{i:032d}", 600)
        fresh = (f"new-{i:032d}" for i in range(10**9))

        async def claim(store: MemoryNonceStore = store, fresh: Iterator[str] = fresh) -> bool:
            return await store.claim("router", next(fresh), 600)

        count = 2_000 if live <= 9_000 else 200
        print(f"  {live:>7,} live: {await cpu_per_op(claim, count, rounds):10.1f} µs")


async def bench_token(rounds: int) -> None:
    import json
    import uuid

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    from coursegraph.identity import JWKSCache, RevocationList, TokenVerifier

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": "k1", "alg": "RS256"}

    async def jwks() -> dict[str, object]:
        return {"keys": [jwk]}

    async def revoked() -> dict[str, int]:
        return {}

    verifier = TokenVerifier(
        JWKSCache(jwks),
        algorithm="RS256",
        issuer="bench",
        audience="bench",
        revocations=RevocationList(revoked, poll_seconds=30),
    )
    now = int(time.time())
    claims = {"sub": "u1", "role": "STUDENT", "scope": "learn profile", "iss": "bench"}
    token = jwt.encode(
        {**claims, "aud": "bench", "iat": now, "exp": now + 900, "jti": uuid.uuid4().hex},
        key,
        algorithm="RS256",
        headers={"kid": "k1"},
    )

    async def verify() -> object:
        return await verifier.verify(token)

    per_op = await cpu_per_op(verify, 2_000, rounds)
    print(f"token verifier: CPU µs per verify of the same RS256 token: {per_op:.1f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["nonce", "token", "db"])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    bench = {"nonce": bench_nonce, "token": bench_token}[args.what]
    asyncio.run(bench(args.rounds))


if __name__ == "__main__":
    main()
