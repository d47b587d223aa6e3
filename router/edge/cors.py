"""CORS for browser clients on other origins: Starlette's CORSMiddleware, configured from
the `cors` section, whose origins default to the CORS_ORIGINS setting.

Preflights (OPTIONS with Access-Control-Request-Method) are answered before any other
stage; allowed origins get Access-Control-Allow-Origin (echoed, never `*` with
credentials), the allowed headers and methods, and a max-age so browsers cache the
preflight. Requests from other origins get no CORS headers, so the browser hides the
response from the calling page.
"""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from coursegraph.cors import parse_origins
from coursegraph.settings import Settings
from router.config import CorsConfig
from router.stage import Stage


class Cors(Stage):
    def __init__(self, config: CorsConfig, origins: tuple[str, ...]) -> None:
        self.config = config
        self.origins = origins

    @classmethod
    def build(cls, config: CorsConfig, settings: Settings) -> Cors | None:
        """None when switched off or when no origin is allowed (no cost per request)."""
        origins = config.origins if config.origins is not None else settings.resolved_cors_origins
        if not config.enabled or not (origins or config.origin_regex):
            return None
        return cls(config, origins)

    def middleware(self) -> list[Middleware]:
        config = self.config
        allowed = parse_origins(o for o in self.origins if o != "*")
        regexes = [r for r in (allowed.regex, config.origin_regex) if r is not None]
        cors = Middleware(
            CORSMiddleware,
            allow_origins=[*allowed.exact, *(["*"] if "*" in self.origins else [])],
            allow_origin_regex="|".join(f"(?:{r})" for r in regexes) if regexes else None,
            allow_methods=list(config.allow_methods),
            allow_headers=list(config.allow_headers),
            allow_credentials=config.allow_credentials,
            expose_headers=list(config.expose_headers),
            max_age=config.max_age_seconds,
        )
        return [cors]
