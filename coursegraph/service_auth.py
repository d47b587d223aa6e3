"""Service-to-service HMAC signatures, exactly as ARCHITECTURE.md specifies.

    canonical = METHOD "\\n" PATH "\\n" TIMESTAMP "\\n" NONCE "\\n" hex(SHA256(raw body))
    X-Service-Signature: v1=<hex HMAC-SHA256(key[caller], canonical)>

`ServiceSigner` makes the four headers (`SignedRoute`, the same already framed as HTTP/1.1
header lines, for a client that calls one path over and over); `ServiceVerifier` checks
them, consuming each nonce once inside the skew window (memory, or Redis when configured).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

HEADER_NAME = "x-service-name"
HEADER_TIMESTAMP = "x-service-timestamp"
HEADER_NONCE = "x-service-nonce"
HEADER_SIGNATURE = "x-service-signature"
SIGNATURE_VERSION = "v1"
# The signing headers, which no forwarded header of the same name may stand beside.
SIGNING_HEADERS = frozenset((HEADER_NAME, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE))
# A nonce is 16 bytes from the OS's CSPRNG (128 bits), in hex. They are drawn NONCE_BATCH at
# a time: one getrandom call per batch rather than one per signed request.
NONCE_BYTES = 16
NONCE_BATCH = 256


class ServiceAuthError(Exception):
    """A signature that must be refused; the message says why (safe to show)."""


def canonical_string(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    body_hash = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n{body_hash}".encode()


def compute_signature(key: bytes, canonical: bytes) -> str:
    return f"{SIGNATURE_VERSION}={hmac.digest(key, canonical, 'sha256').hex()}"


# Nonces drawn and not yet used. deque.popleft is atomic, so threads signing at once (a
# test's server thread and its client) never take the same one; a forked process starts
# with none, or parent and child would sign with the same nonces.
_nonces: deque[str] = deque()
os.register_at_fork(after_in_child=_nonces.clear)


def new_nonce() -> str:
    """A fresh, unpredictable nonce, never handed out twice by this process."""
    try:
        return _nonces.popleft()
    except IndexError:
        width = 2 * NONCE_BYTES
        batch = os.urandom(NONCE_BYTES * NONCE_BATCH).hex()
        _nonces.extend(batch[at : at + width] for at in range(width, len(batch), width))
        return batch[:width]


@dataclass(frozen=True, slots=True)
class ServiceSigner:
    """Signs outgoing requests as `service`."""

    service: str
    key: bytes

    def headers(
        self, method: str, path: str, body: bytes, *, timestamp: int | None = None
    ) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        nonce = new_nonce()
        signature = compute_signature(self.key, canonical_string(method, path, ts, nonce, body))
        return {
            HEADER_NAME: self.service,
            HEADER_TIMESTAMP: ts,
            HEADER_NONCE: nonce,
            HEADER_SIGNATURE: signature,
        }


class SignedRoute:
    """Signs requests with one method and path as `signer.service`, as `ServiceSigner` does,
    but returns the four headers framed as HTTP/1.1 header lines ("name: value\\r\\n" each,
    in bytes): what does not change from one request to the next is built once — the
    canonical string's start, the name header, and HMAC-SHA256's two keyed SHA-256 states
    (RFC 2104: H((K ^ opad) || H((K ^ ipad) || m)), each copied per request; OpenSSL's
    one-shot HMAC costs several times that)."""

    __slots__ = ("_inner", "_name", "_outer", "_prefix")

    def __init__(self, signer: ServiceSigner, method: str, path: str) -> None:
        key = signer.key
        block = hashlib.sha256().block_size
        if len(key) > block:
            key = hashlib.sha256(key).digest()
        key = key.ljust(block, b"\0")
        self._inner = hashlib.sha256(key.translate(hmac.trans_36))
        self._outer = hashlib.sha256(key.translate(hmac.trans_5C))
        self._prefix = f"{method.upper()}\n{path}\n"
        self._name = f"{HEADER_NAME}: {signer.service}\r\n{HEADER_TIMESTAMP}: "

    def lines(self, body: bytes) -> bytes:
        ts = str(int(time.time()))
        nonce = new_nonce()
        canonical = f"{self._prefix}{ts}\n{nonce}\n{hashlib.sha256(body).hexdigest()}"
        inner = self._inner.copy()
        inner.update(canonical.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return (
            f"{self._name}{ts}\r\n{HEADER_NONCE}: {nonce}\r\n"
            f"{HEADER_SIGNATURE}: {SIGNATURE_VERSION}={outer.hexdigest()}\r\n"
        ).encode()


class NonceStore(Protocol):
    async def claim(self, service: str, nonce: str, ttl_seconds: int) -> bool:
        """Record the nonce; False if it was already seen inside its TTL."""
        ...


class MemoryNonceStore:
    """Per-process nonce memory; good for one instance or development.

    Entries are kept in claim order, so with the verifier's fixed TTL they are also in
    expiry order: each claim drops the expired ones from the front, O(1) amortised, and
    memory holds only the nonces still inside their window. A claim never awaits, so
    under one event loop it is atomic without a lock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._clock = clock

    def __len__(self) -> int:
        return len(self._seen)

    async def claim(self, service: str, nonce: str, ttl_seconds: int) -> bool:
        now = self._clock()
        seen = self._seen
        while seen:
            oldest = next(iter(seen))
            if seen[oldest] > now:
                break
            del seen[oldest]
        key = (service, nonce)
        expires = seen.get(key)
        if expires is not None and expires > now:
            return False
        seen[key] = now + ttl_seconds
        # A shorter TTL than its predecessors' only delays its removal; `expires > now`
        # above keeps the answer exact either way.
        seen.move_to_end(key)
        return True


class RedisNonceStore:
    """Nonces shared by every instance of a service (SET NX with expiry)."""

    def __init__(self, redis: object, prefix: str = "coursegraph:nonce:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def claim(self, service: str, nonce: str, ttl_seconds: int) -> bool:
        key = f"{self._prefix}{service}:{nonce}"
        result = await self._redis.set(key, b"1", nx=True, ex=ttl_seconds)  # type: ignore[attr-defined]
        return bool(result)


class ServiceVerifier:
    """Checks the HMAC headers of an incoming request."""

    def __init__(
        self,
        keys: Mapping[str, bytes],
        nonces: NonceStore,
        *,
        max_skew_seconds: int = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = dict(keys)
        self._nonces = nonces
        self._max_skew = max_skew_seconds
        self._clock = clock

    @staticmethod
    def is_signed(headers: Mapping[str, str]) -> bool:
        return any(
            h in headers for h in (HEADER_NAME, HEADER_SIGNATURE, HEADER_NONCE, HEADER_TIMESTAMP)
        )

    def precheck(self, headers: Mapping[str, str]) -> str:
        """The claimed caller, checked as far as the headers alone allow.

        Cheap and body-free, so a gate can refuse before it reads a request body."""
        service = headers.get(HEADER_NAME)
        timestamp = headers.get(HEADER_TIMESTAMP)
        nonce = headers.get(HEADER_NONCE)
        signature = headers.get(HEADER_SIGNATURE)
        if not (service and timestamp and nonce and signature):
            raise ServiceAuthError("missing service signature headers")
        if service not in self._keys:
            raise ServiceAuthError(f"unknown service {service!r}")
        try:
            ts = int(timestamp)
        except ValueError:
            raise ServiceAuthError("malformed service timestamp") from None
        if abs(self._clock() - ts) > self._max_skew:
            raise ServiceAuthError("stale service signature")
        if not 16 <= len(nonce) <= 128:
            raise ServiceAuthError("malformed service nonce")
        return service

    async def verify(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> str:
        """Return the verified caller's name or raise ServiceAuthError."""
        service = self.precheck(headers)
        timestamp = headers[HEADER_TIMESTAMP]
        nonce = headers[HEADER_NONCE]
        signature = headers[HEADER_SIGNATURE]
        key = self._keys[service]
        expected = compute_signature(key, canonical_string(method, path, timestamp, nonce, body))
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise ServiceAuthError("bad service signature")
        # Claim the nonce only for a valid signature, so forgeries cannot burn nonces.
        if not await self._nonces.claim(service, nonce, 2 * self._max_skew):
            raise ServiceAuthError("replayed service nonce")
        return service
