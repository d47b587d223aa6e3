"""What every resolver sees: the viewer, the verified calling service, loaders, services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from starlette.requests import HTTPConnection
from starlette.responses import Response

from coursegraph.cache_control import CacheRestriction
from coursegraph.caller_gate import ROUTER
from coursegraph.errors import Unauthenticated
from coursegraph.identity import Viewer

C = TypeVar("C")
L = TypeVar("L")

FORWARDED_HEADERS = ("authorization", "x-request-id")


@dataclass
class RequestContext(Generic[C, L]):
    # The HTTP request, or the WebSocket of a subscription connection.
    request: HTTPConnection
    container: C
    loaders: L
    request_id: str
    client_address: str | None = None
    # The verified caller: a service (HMAC) or `router` (signed, or the router credential).
    service: str | None = None
    # Strawberry's response headers (the cache policy goes there) and the resolvers'
    # run-time narrowing of it (`coursegraph.cache_control.restrict_cache`).
    response: Response | None = None
    cache_restriction: CacheRestriction | None = None
    # Makes fresh DataLoaders: a subscription connection keeps one context for all its
    # events, and a loader's cache must not answer an event with an earlier event's rows.
    loader_factory: Callable[[], L] | None = field(default=None, repr=False)
    _viewer: Viewer | None = None
    _auth_error: Unauthenticated | None = field(default=None, repr=False)

    @property
    def viewer(self) -> Viewer | None:
        """The signed-in viewer; a bad token is an error, not an anonymous request."""
        if self._auth_error is not None:
            raise self._auth_error
        return self._viewer

    def require_viewer(self) -> Viewer:
        viewer = self.viewer
        if viewer is None:
            raise Unauthenticated("You must be signed in.")
        return viewer

    def renew_loaders(self) -> None:
        """Fresh DataLoaders, before each event of a subscription is resolved."""
        if self.loader_factory is not None:
            self.loaders = self.loader_factory()

    @property
    def from_router(self) -> bool:
        """Facts the router passes on (`@requires` inputs) are trusted only from it."""
        return self.service == ROUTER

    def forward_headers(self) -> dict[str, str]:
        """Headers passed on when this request calls another subgraph."""
        return {h: v for h in FORWARDED_HEADERS if (v := self.request.headers.get(h))}
