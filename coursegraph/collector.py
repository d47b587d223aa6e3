"""The cyclic garbage collector's young generation, sized for a server's garbage.

A request builds thousands of dicts and lists (the router's TestQuery parses subgraph
answers into them; a subgraph's GraphQL execution builds its result) that reference
counting frees when the request ends. CPython's default runs a young collection every 700
net container allocations: with 50 requests in flight it scans objects those requests
still hold, promotes them, and so keeps triggering full collections, each of which walks
the whole heap (supergraph, schemas, plan caches: ~100 ms here). Under bench/run.py's
load that was a fifth of the router's CPU (docs/benchmarks-log.md, "Server layer and
subgraph client"). With a young generation of 20,000 objects most of a request's
containers are freed before a collection sees them; cycles are still collected, later.
Every subgraph serves with it; the router with a larger one (router/server.py).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 20_000


@contextmanager
def young_generation(threshold: int = YOUNG_THRESHOLD) -> Iterator[None]:
    """Collect the young generation every `threshold` allocations while serving; the older
    generations' thresholds stay. The previous setting is restored at exit (tests run
    several apps in one process)."""
    previous = gc.get_threshold()
    gc.set_threshold(threshold, *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)
