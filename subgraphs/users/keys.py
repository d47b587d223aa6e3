"""Access-token signing keys: a folder of PEM files, newest signs, the last few are published.

Rotation adds a key; tokens signed by older keys stay valid until they expire because the
JWKS keeps publishing the `jwt_keys_kept` newest keys.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: PrivateKey

    def public_jwk(self, algorithm: str) -> dict[str, Any]:
        public = self.private_key.public_key()
        jwk: dict[str, Any] = json.loads(
            RSAAlgorithm.to_jwk(public)
            if isinstance(public, rsa.RSAPublicKey)
            else OKPAlgorithm.to_jwk(public)
        )
        return {**jwk, "kid": self.kid, "alg": algorithm, "use": "sig"}


def _generate(algorithm: str) -> PrivateKey:
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _fits(key: PrivateKey, algorithm: str) -> bool:
    wanted = ed25519.Ed25519PrivateKey if algorithm == "EdDSA" else rsa.RSAPrivateKey
    return isinstance(key, wanted)


class KeyStore:
    def __init__(self, folder: Path, algorithm: str, kept: int = 3) -> None:
        self.folder = folder
        self.algorithm = algorithm
        self.kept = max(1, kept)
        self._keys: list[SigningKey] = []
        self._loaded_mtime: int | None = None

    def load(self, *, create: bool = True) -> None:
        """Read the folder; with `create`, make a first key when there is none."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._loaded_mtime = self.folder.stat().st_mtime_ns
        keys = []
        for path in sorted(self.folder.glob("*.pem")):  # names start with a timestamp
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if isinstance(private, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) and _fits(
                private, self.algorithm
            ):
                keys.append(SigningKey(kid=path.stem.split("-", 1)[1], private_key=private))
        self._keys = keys[-self.kept :]
        if not self._keys and create:
            self.rotate()

    def rotate(self) -> SigningKey:
        """Add a new signing key and drop files beyond the kept ones."""
        key = SigningKey(kid=uuid.uuid4().hex[:16], private_key=_generate(self.algorithm))
        pem = key.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{time.time_ns():020d}-{key.kid}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        for old in sorted(self.folder.glob("*.pem"))[: -self.kept]:
            old.unlink()
        self._keys = [*self._keys, key][-self.kept :]
        self._loaded_mtime = self.folder.stat().st_mtime_ns
        return key

    def _reload_if_rotated(self) -> None:
        # `coursegraph users rotate-keys` may run beside live servers: pick its key up.
        if self.folder.stat().st_mtime_ns != self._loaded_mtime:
            self.load(create=False)

    @property
    def current(self) -> SigningKey:
        self._reload_if_rotated()
        if not self._keys:
            raise RuntimeError("no signing key loaded")
        return self._keys[-1]

    def jwks(self) -> dict[str, Any]:
        self._reload_if_rotated()
        return {"keys": [key.public_jwk(self.algorithm) for key in reversed(self._keys)]}

    def sign(
        self,
        claims: dict[str, Any],
        *,
        issuer: str,
        audience: str,
        ttl_seconds: int,
    ) -> str:
        now = datetime.now(UTC)
        payload = {
            **claims,
            "iss": issuer,
            "aud": audience,
            "iat": now,
            "exp": now + timedelta(seconds=ttl_seconds),
            "jti": uuid.uuid4().hex,
        }
        key = self.current
        return jwt.encode(
            payload, key.private_key, algorithm=self.algorithm, headers={"kid": key.kid}
        )
