from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from strawberry.dataloader import DataLoader

from subgraphs.payments.models import Payment, Refund
from subgraphs.payments.service import PaymentService


@dataclass
class PaymentsLoaders:
    payments: DataLoader[str, Payment | None]
    payments_by_user: DataLoader[str, list[Payment]]
    refunds_by_payment: DataLoader[str, list[Refund]]


def make_loaders(payments: PaymentService) -> PaymentsLoaders:
    async def load_payments(ids: Sequence[str]) -> list[Payment | None]:
        return await payments.get_many(ids)

    async def load_by_user(user_ids: Sequence[str]) -> list[list[Payment]]:
        return await payments.for_users(user_ids)

    async def load_refunds(payment_ids: Sequence[str]) -> list[list[Refund]]:
        return await payments.refunds_for(payment_ids)

    return PaymentsLoaders(
        payments=DataLoader(load_fn=load_payments),
        payments_by_user=DataLoader(load_fn=load_by_user),
        refunds_by_payment=DataLoader(load_fn=load_refunds),
    )
