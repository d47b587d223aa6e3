"""Allowed browser origins (the CORS_ORIGINS setting), read the same way by the router and
by files' public upload and media routes.

An origin is `scheme://host[:port]`. `*` may stand for the whole port (`http://localhost:*`,
any port or none) or for the leftmost host label (`https://*.example.com`, one label);
such entries become one regular expression for Starlette's CORSMiddleware, the others
stay exact matches.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

# A frontend dev server on this machine (Vite, webpack, …) on whatever port it picked.
DEVELOPMENT_ORIGINS = ("http://localhost:*", "http://127.0.0.1:*")

_ORIGIN = re.compile(
    r"(?P<scheme>https?)://(?P<wild>\*\.)?(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])"
    r"(?::(?P<port>[0-9]{1,5}|\*))?"
)


@dataclass(frozen=True, slots=True)
class AllowedOrigins:
    exact: tuple[str, ...] = ()
    # One expression for every wildcard entry (CORSMiddleware matches it in full).
    regex: str | None = None

    def __bool__(self) -> bool:
        return bool(self.exact) or self.regex is not None


def parse_origins(entries: Iterable[str]) -> AllowedOrigins:
    """Exact origins and one expression for the wildcard entries; ValueError names a bad one."""
    exact: list[str] = []
    patterns: list[str] = []
    for raw in entries:
        entry = raw.strip().rstrip("/")
        match = _ORIGIN.fullmatch(entry)
        if match is None:
            raise ValueError(
                f"CORS origin {raw!r} is not scheme://host[:port] (with `*` only as the port "
                "or the leftmost host label); list the origins of your web apps"
            )
        if match["wild"] is None and match["port"] != "*":
            exact.append(entry.lower())
            continue
        pattern = re.escape(f"{match['scheme']}://".lower())
        if match["wild"] is not None:
            pattern += r"[a-z0-9-]+\."
        pattern += re.escape(match["host"].lower())
        port = match["port"]
        if port == "*":
            pattern += r"(?::[0-9]{1,5})?"
        elif port is not None:
            pattern += re.escape(f":{port}")
        patterns.append(pattern)
    regex = "|".join(f"(?:{p})" for p in patterns) if patterns else None
    return AllowedOrigins(tuple(dict.fromkeys(exact)), regex)


class PathCors:
    """CORS on some paths of an app only: files answers browsers on its public upload and
    media URLs, while its GraphQL endpoint and webhooks stay without CORS headers."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        prefixes: Collection[str],
        origins: AllowedOrigins,
        allow_methods: Collection[str],
        allow_headers: Collection[str],
        expose_headers: Collection[str],
        max_age: int = 600,
    ) -> None:
        self.app = app
        self.prefixes = tuple(prefixes)
        # No credentials: the signed URL itself is the credential, cookies are never read.
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins.exact,
            allow_origin_regex=origins.regex,
            allow_methods=allow_methods,
            allow_headers=allow_headers,
            expose_headers=expose_headers,
            max_age=max_age,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefixes):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
