"""GraphQL value types that several subgraphs return: declared once, `@shareable`, so
every subgraph prints them identically (composition requires it)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry
from strawberry.types.scalar import ScalarDefinition

from coursegraph import money

# The API's `Decimal` carries money amounts: parsed strictly and bounded before Python's
# Decimal sees it (see `money.parse_amount`); printed as Strawberry's own scalar.
DECIMAL_SCALAR = ScalarDefinition(
    name="Decimal",
    description="Decimal (fixed-point)",
    specified_by_url=None,
    serialize=str,
    parse_value=money.parse_amount,
    parse_literal=None,
    origin=Decimal,
)


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
    headers: list[UploadHeader]
    expires_at: datetime
