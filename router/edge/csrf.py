"""CSRF prevention, as Apollo Server and Apollo Router do it.

A browser sends some requests cross-origin without asking first (no CORS preflight): a
GET, or a POST whose Content-Type is text/plain, multipart/form-data or
application/x-www-form-urlencoded, with no custom header. Such a request could execute an
operation with the victim's cookies, so the router refuses it (400) unless it carries a
non-simple Content-Type (e.g. application/json) or one of the configured headers, which
forces a preflight that CORS then judges.
"""

from __future__ import annotations

from router.config import CsrfConfig
from router.stage import EdgeRefusal, Exchange, Stage

SIMPLE_CONTENT_TYPES = frozenset(
    ("text/plain", "multipart/form-data", "application/x-www-form-urlencoded")
)


class CsrfPrevention(Stage):
    def __init__(self, config: CsrfConfig) -> None:
        self.required_headers = tuple(h.lower() for h in config.required_headers)

    async def on_request(self, exchange: Exchange) -> None:
        if exchange.transport == "websocket":
            # No ambient credential rides on a WebSocket: the token comes in its
            # `connection_init` message, which a forging page does not have.
            return
        headers = exchange.request.headers
        content_type = headers.get("content-type")
        if content_type is not None:
            media_type = content_type.split(";", 1)[0].strip().lower()
            if media_type not in SIMPLE_CONTENT_TYPES:
                return
        for name in self.required_headers:
            if name in headers:
                return
        names = ", ".join(self.required_headers) or "none configured"
        raise EdgeRefusal(
            400,
            "This operation has been blocked as a potential Cross-Site Request Forgery "
            "(CSRF). Send a Content-Type other than text/plain, multipart/form-data or "
            f"application/x-www-form-urlencoded, or one of these headers: {names}.",
            "CSRF_PREVENTED",
        )
