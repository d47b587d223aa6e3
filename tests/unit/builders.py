"""Rows of the domain built in memory (never flushed): what the pure functions take."""

from __future__ import annotations

import uuid

from subgraphs.payments.models import Payment


def build_payment(
    status: str = "PENDING",
    amount_minor: int = 4999,
    currency: str = "USD",
    closed_reason: str | None = None,
) -> Payment:
    return Payment(
        id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        course_id=str(uuid.uuid4()),
        provider="stripe",
        status=status,
        amount_minor=amount_minor,
        currency=currency,
        refunded_minor=0,
        closed_reason=closed_reason,
        failure_reason=None,
        gateway_payment_id=None,
        succeeded_at=None,
    )
