"""Payments' root fields: thin resolvers that call the services; the schema itself."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from coursegraph.federation import build_schema, internal_field
from coursegraph.graphql_types import MoneyInput
from coursegraph.live import each_resolved
from subgraphs.payments.internal import PaymentRef, prepare_payment
from subgraphs.payments.objects import (
    Context,
    Course,
    CreatePaymentInput,
    Payment,
    Refund,
    User,
    VerifyPaymentInput,
)
from subgraphs.payments.refunds import RefundAmount


@strawberry.type
class Query:
    @strawberry.federation.field(
        authenticated=True, description="Your own payment (ADMIN: any); NOT_FOUND otherwise."
    )
    async def payment(self, info: Info[Context, None], id: strawberry.ID) -> Payment | None:
        viewer = info.context.require_viewer()
        payment = await info.context.container.payments.get_for_viewer(viewer, str(id))
        return Payment.from_model(payment)


@strawberry.type
class Mutation:
    @strawberry.federation.mutation(
        authenticated=True,
        description="Reuses your PENDING payment for that course; the amount comes from courses.",
    )
    async def create_payment(self, info: Info[Context, None], input: CreatePaymentInput) -> Payment:
        viewer = info.context.require_viewer()
        payment = await info.context.container.payments.create_payment(
            viewer, str(input.course_id), input.provider.value
        )
        return Payment.from_model(payment)

    @strawberry.federation.mutation(
        authenticated=True, description="On success the enrollment becomes ACTIVE."
    )
    async def verify_payment(self, info: Info[Context, None], input: VerifyPaymentInput) -> Payment:
        viewer = info.context.require_viewer()
        payment = await info.context.container.payments.verify_payment(
            viewer, str(input.payment_id), input.gateway_payment_id, input.signature
        )
        return Payment.from_model(payment)

    @strawberry.federation.mutation(
        authenticated=True,
        description="Prorated by progress (ADMIN may set the amount); the enrollment is dropped.",
    )
    async def request_refund(
        self,
        info: Info[Context, None],
        payment_id: strawberry.ID,
        reason: str | None = None,
        amount: MoneyInput | None = None,
    ) -> Refund:
        viewer = info.context.require_viewer()
        explicit = RefundAmount(amount.amount, amount.currency) if amount is not None else None
        refund = await info.context.container.refunds.request_refund(
            viewer, str(payment_id), reason, explicit
        )
        return Refund.from_model(refund)

    prepare_payment: PaymentRef = internal_field(
        prepare_payment,
        services=["courses"],
        description="Create or reuse the user's PENDING payment (for courses' enroll); "
        "courses states the price and the viewer's seat, payments calls nobody back.",
    )


@strawberry.type
class Subscription:
    @strawberry.federation.field(
        is_subscription=True,
        authenticated=True,
        description="The payment now, then again after each change of its status (your own "
        "payments; ADMIN: any; NOT_FOUND otherwise).",
    )
    async def payment_updated(
        self, info: Info[Context, None], payment_id: strawberry.ID
    ) -> AsyncGenerator[Payment, None]:
        viewer = info.context.require_viewer()
        states = await info.context.container.payments.watch(viewer, str(payment_id))
        return each_resolved(info.context, states, Payment.from_model)


schema = build_schema(
    query=Query, mutation=Mutation, subscription=Subscription, types=[Payment, User, Course]
)
