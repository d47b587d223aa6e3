"""Hot reload: notice that the supergraph's sources changed, rebuild, swap.

One asyncio task polls the watched files' stat every `poll_seconds` (no dependency, and
reliable on every filesystem and editor save pattern) and, every `sdl_poll_seconds`, asks
the subgraphs the config reads by URL for their SDL. On a change it loads and composes in
a worker thread, builds the new `SchemaState` there too, and swaps it in on the event loop:
one reference assignment, so requests in flight finish on the old state. Any failure keeps
the old supergraph serving and is logged with its reasons.
"""

from __future__ import annotations

import asyncio
import time

from coursegraph.log import get_logger
from router.composition import SourceError
from router.config import RouterConfig
from router.service import Router
from router.source import LoadError, Signature, SupergraphSource
from router.state import SchemaState

# Sections the HTTP app reads once at start-up; a reload cannot apply changes to them.
EDGE_SECTIONS = (
    "headers",
    "auth",
    "graphiql",
    "cors",
    "csrf",
    "rate_limit",
    "persisted_queries",
    "telemetry",
)


class Reloader:
    def __init__(
        self,
        router: Router,
        source: SupergraphSource,
        seen: Signature,
        remote_sdls: tuple[str, ...] = (),
        *,
        poll_seconds: float = 1.0,
        sdl_poll_seconds: float = 3.0,
    ) -> None:
        """`seen` is the signature taken before the running supergraph was loaded, so a
        change made while it loaded is still noticed; `remote_sdls` what it loaded."""
        self.router = router
        self.source = source
        self.seen = seen
        self.remote_seen = remote_sdls
        self.poll_seconds = poll_seconds
        self.sdl_poll_seconds = sdl_poll_seconds
        # After a transient failure (a subgraph down, a file unreadable) the reload is
        # tried again at the next SDL poll even if nothing changes.
        self.retry = False
        self._next_remote = 0.0
        self._remote_error: str | None = None
        self._last_failure: str | None = None
        self.log = get_logger("router.reload")

    async def run(self) -> None:
        """Poll until cancelled (at shutdown)."""
        self._next_remote = time.monotonic() + self.sdl_poll_seconds
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self.tick()
            except Exception:
                # Watching must outlive any surprise; the next tick starts afresh.
                self.log.exception("supergraph watch failed")

    async def tick(self) -> None:
        signature = await asyncio.to_thread(self.source.signature)
        if signature != self.seen:
            self.seen = signature
            await self.reload("files changed")
            return
        if time.monotonic() < self._next_remote:
            return
        self._next_remote = time.monotonic() + self.sdl_poll_seconds
        if self.retry:
            await self.reload("retry")
        elif await self._remote_changed():
            await self.reload("subgraph SDL changed")

    async def _remote_changed(self) -> bool:
        try:
            sdls = await asyncio.to_thread(self.source.remote_sdls)
        except SourceError as error:
            # A subgraph restarting is normal in development: say so once, not every poll.
            if str(error) != self._remote_error:
                self._remote_error = str(error)
                self.log.info("subgraph SDL poll failed", reason=str(error))
            return False
        self._remote_error = None
        if sdls == self.remote_seen:
            return False
        self.remote_seen = sdls
        return True

    async def reload(self, trigger: str) -> bool:
        """Load, build and swap; True when a new supergraph now serves."""
        started = time.perf_counter()
        self.retry = False
        try:
            state, loaded_remote = await asyncio.to_thread(self._build)
        except LoadError as error:
            self.retry = error.transient
            # Retries of a transient failure (a subgraph still down) repeat it quietly.
            repeated = trigger == "retry" and str(error) == self._last_failure
            self._last_failure = str(error)
            log = self.log.debug if repeated else self.log.warning
            log(
                "supergraph reload failed; the previous supergraph keeps serving",
                trigger=trigger,
                reason=error.message,
                errors=error.details,
                retry=error.transient,
            )
            return False
        except Exception as error:
            # Whatever the cause, the running supergraph must stay up: log and carry on.
            self.log.exception(
                "supergraph reload failed; the previous supergraph keeps serving",
                trigger=trigger,
                reason=f"{type(error).__name__}: {error}",
            )
            return False
        self._last_failure = None
        self.remote_seen = loaded_remote
        if state is None:
            self.log.debug("supergraph unchanged", trigger=trigger)
            return False
        ignored = _edge_changes(self.router.config, state.config)
        self.router.swap(state)
        self.log.info(
            "supergraph reloaded",
            trigger=trigger,
            subgraphs=sorted(s.name for s in state.supergraph.subgraphs.values()),
            seconds=round(time.perf_counter() - started, 3),
        )
        if ignored:
            self.log.warning(
                "router settings changed that apply only after a restart", sections=ignored
            )
        return True

    def _build(self) -> tuple[SchemaState | None, tuple[str, ...]]:
        loaded = self.source.load()
        current = self.router.state
        if loaded.supergraph.sdl == current.supergraph.sdl and loaded.config == current.config:
            # Keep the warm plan cache when a save did not change the result.
            return None, loaded.remote_sdls
        return self.router.build_state(loaded.supergraph, loaded.config), loaded.remote_sdls


def _edge_changes(started: RouterConfig, now: RouterConfig) -> list[str]:
    return [name for name in EDGE_SECTIONS if getattr(started, name) != getattr(now, name)]
