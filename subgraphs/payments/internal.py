"""Internal fields other services call (HMAC-signed, `@inaccessible`): courses."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from subgraphs.payments.models import ProviderName
from subgraphs.payments.objects import Context
from subgraphs.payments.service import Order


@strawberry.federation.type(inaccessible=True)
class PaymentRef:
    id: strawberry.ID


@strawberry.federation.input(
    inaccessible=True, description="What courses charges for a seat, and the viewer's state."
)
class PaymentOrderInput:
    title: str
    price_amount_minor: int
    currency: str
    viewer_enrolled: bool


async def prepare_payment(
    info: Info[Context, None],
    user_id: strawberry.ID,
    course_id: strawberry.ID,
    provider: ProviderName,
    order: PaymentOrderInput,
) -> PaymentRef:
    payment = await info.context.container.payments.prepare_payment(
        str(user_id),
        str(course_id),
        provider.value,
        Order(order.title, order.price_amount_minor, order.currency, order.viewer_enrolled),
    )
    return PaymentRef(id=strawberry.ID(str(payment.id)))
