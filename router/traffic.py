"""Traffic shaping per subgraph: retries, circuit breaker, de-duplication of queries.

Sits between the executor and a subgraph's `SubgraphClient` (which already repeats a
request once on a pooled connection the subgraph closed while idle). Here:

- retries with exponential back-off and jitter, for queries only: a mutation may have
  been applied before the connection failed, so it is never sent twice. Timeouts are not
  retried: the request's time budget is spent and a slow subgraph should not get more load.
- a circuit breaker: after `failure_threshold` consecutive failures the subgraph is not
  called for `cool_down_seconds`; then one probe goes through (half-open), and its outcome
  closes the circuit or opens it again. While open, fetches fail at once with
  SERVICE_UNAVAILABLE, so a dead subgraph costs neither a connect timeout per request nor
  load on a subgraph that is trying to recover.
- optional de-duplication: identical queries in flight to the same subgraph with the same
  forwarded `Authorization` share one request and its answer.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from typing import Any

import orjson

from router.config import TrafficConfig
from router.http import SubgraphClient
from router.subgraph_errors import SubgraphUnavailable
from router.types import JSONObject


class CircuitOpen(SubgraphUnavailable):
    """The circuit breaker refused the call without sending it."""


class CircuitBreaker:
    __slots__ = ("cool_down", "failures", "opened_at", "probing", "threshold")

    def __init__(self, threshold: int, cool_down: float) -> None:
        self.threshold = threshold
        self.cool_down = cool_down
        self.failures = 0
        self.opened_at: float | None = None
        self.probing = False

    def admit(self) -> bool:
        """True when a call may go out; the first call after the cool-down is the probe."""
        if self.opened_at is None:
            return True
        if self.probing or time.monotonic() - self.opened_at < self.cool_down:
            return False
        self.probing = True
        return True

    def succeeded(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.probing = False

    def abandoned(self) -> None:
        """A call ended without an outcome (cancelled): let the next one probe."""
        self.probing = False

    def failed(self) -> None:
        self.failures += 1
        if self.probing or self.failures >= self.threshold:
            self.opened_at = time.monotonic()
        self.probing = False


class SubgraphTraffic:
    """What the executor calls for one subgraph; wraps its `SubgraphClient`."""

    def __init__(self, client: SubgraphClient, config: TrafficConfig) -> None:
        self.client = client
        self.endpoint = client.endpoint
        self._attempts = config.retry.attempts
        self._backoff = config.retry.backoff_seconds
        breaker = config.circuit_breaker
        self.breaker = (
            CircuitBreaker(breaker.failure_threshold, breaker.cool_down_seconds)
            if breaker.enabled
            else None
        )
        self._in_flight: dict[bytes, asyncio.Future[JSONObject]] | None = (
            {} if config.deduplicate_queries else None
        )

    async def request(
        self, payload: JSONObject, headers: Mapping[str, str], *, idempotent: bool
    ) -> JSONObject:
        in_flight = self._in_flight
        if not idempotent or in_flight is None:
            return await self._send(payload, headers, idempotent)
        key = orjson.dumps([payload, headers.get("authorization")])
        shared = in_flight.get(key)
        if shared is not None:
            # shield: one waiter giving up must not cancel the request the others share.
            return await asyncio.shield(shared)
        future: asyncio.Future[JSONObject] = asyncio.get_running_loop().create_future()
        in_flight[key] = future
        try:
            result = await self._send(payload, headers, idempotent)
        except BaseException as exc:
            if isinstance(exc, Exception):
                future.set_exception(exc)
            else:
                future.cancel()
            if not future.cancelled():
                # Retrieved here so an unshared failure is not logged as never retrieved.
                future.exception()
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del in_flight[key]

    async def _send(
        self, payload: JSONObject, headers: Mapping[str, str], idempotent: bool
    ) -> JSONObject:
        attempts = self._attempts if idempotent else 0
        attempt = 0
        while True:
            breaker = self.breaker
            if breaker is not None and not breaker.admit():
                raise CircuitOpen("circuit breaker open after repeated failures")
            try:
                result: dict[str, Any] = await self.client.request(
                    payload, headers, retry=idempotent
                )
            except SubgraphUnavailable as exc:
                if breaker is not None:
                    breaker.failed()
                if attempt >= attempts or not exc.retryable:
                    raise
                delay = self._backoff * (2**attempt) * (0.5 + random.random() / 2)
                attempt += 1
                await asyncio.sleep(delay)
                continue
            except BaseException:
                # Cancelled (the client went away): a half-open probe must not stay
                # "in flight" forever, or the circuit would never close.
                if breaker is not None:
                    breaker.abandoned()
                raise
            if breaker is not None:
                breaker.succeeded()
            return result
