"""CORS for browser clients on other origins: Starlette's CORSMiddleware, configured from
the `cors` section.

Preflights (OPTIONS with Access-Control-Request-Method) are answered before any other
stage; allowed origins get Access-Control-Allow-Origin (echoed, never `*` with
credentials), the allowed headers and methods, and a max-age so browsers cache the
preflight. Requests from other origins get no CORS headers, so the browser hides the
response from the calling page.
"""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from router.config import CorsConfig
from router.edge.stage import Stage


class Cors(Stage):
    def __init__(self, config: CorsConfig) -> None:
        self.config = config

    def middleware(self) -> list[Middleware]:
        config = self.config
        cors = Middleware(
            CORSMiddleware,
            allow_origins=list(config.origins),
            allow_origin_regex=config.origin_regex,
            allow_methods=list(config.allow_methods),
            allow_headers=list(config.allow_headers),
            allow_credentials=config.allow_credentials,
            expose_headers=list(config.expose_headers),
            max_age=config.max_age_seconds,
        )
        return [cors]
