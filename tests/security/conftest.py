"""Security tests run on the real stack of tests/e2e: every subgraph and the router as
processes, real HTTP, real PostgreSQL. The package gets a stack of its own."""

from __future__ import annotations

from tests.e2e.conftest import api, e2e_database_url, mail_sink, razorpay, stack, stripe

__all__ = ["api", "e2e_database_url", "mail_sink", "razorpay", "stack", "stripe"]
