"""GraphQL value types that several subgraphs return: declared once, `@shareable`, so
every subgraph prints them identically (composition requires it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import strawberry
from strawberry.federation.schema_directives import ListSize
from strawberry.types.scalar import ScalarDefinition

from coursegraph import money


def list_size(
    *, assumed: int | None = None, slicing: Sequence[str] = (), sized: Sequence[str] = ()
) -> ListSize:
    """`@listSize` (cost spec) for a list field, with only the arguments given (Strawberry
    would print the others as explicit nulls). `assumed`: a size the subgraph enforces;
    `slicing`: arguments whose value the subgraph caps."""
    return ListSize(
        assumed_size=assumed if assumed is not None else strawberry.UNSET,
        slicing_arguments=list(slicing) if slicing else strawberry.UNSET,
        sized_fields=list(sized) if sized else strawberry.UNSET,
        require_one_slicing_argument=strawberry.UNSET,
    )


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


@strawberry.federation.type(shareable=True)
class PageInfo:
    """Relay-style paging of a connection (courses' catalog, notifications)."""

    has_next_page: bool
    end_cursor: str | None


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
