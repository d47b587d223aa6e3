"""GraphQL value types that several subgraphs return: declared once, `@shareable`, so
every subgraph prints them identically (composition requires it)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from coursegraph import money
from coursegraph.federation import list_size


@strawberry.federation.type(shareable=True)
class Money:
    amount: Decimal
    currency: str = strawberry.field(description="ISO-4217 code.")

    @classmethod
    def from_money(cls, value: money.Money) -> Money:
        return cls(amount=value.amount, currency=value.currency)

    @classmethod
    def of(cls, minor: int, currency: str) -> Money:
        return cls(amount=money.to_decimal(minor, currency), currency=currency)


@strawberry.input
class MoneyInput:
    amount: Decimal
    currency: str


@strawberry.federation.type(shareable=True)
class UploadHeader:
    name: str
    value: str


@strawberry.federation.type(shareable=True)
class UploadTicket:
    """Where and how a client uploads a file: files issues it, courses passes it on."""

    file_id: strawberry.ID
    upload_url: str
    method: str
    # Content-Type and at most a few storage headers.
    headers: list[UploadHeader] = strawberry.field(directives=[list_size(assumed=5)])
    expires_at: datetime
