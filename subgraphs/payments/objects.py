"""Payments' GraphQL object types, enums and inputs."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.federation.schema_directives import Key
from strawberry.federation.types import FieldSet
from strawberry.permission import PermissionExtension
from strawberry.types import Info

from coursegraph.context import RequestContext
from coursegraph.graphql_types import Money, list_size
from subgraphs.payments import models
from subgraphs.payments.bootstrap import PaymentsContainer
from subgraphs.payments.loaders import PaymentsLoaders
from subgraphs.payments.models import PaymentStatus, ProviderName, RefundStatus
from subgraphs.payments.policy import PaymentsOfSelfOrAdmin, owns_payments_of
from subgraphs.payments.service import MAX_PAYMENTS_LISTED

Context = RequestContext[PaymentsContainer, PaymentsLoaders]


# The GraphQL enums are the models' own (the values stored are the values served).
strawberry.enum(ProviderName, name="PaymentProvider")
strawberry.enum(PaymentStatus)
strawberry.enum(RefundStatus)


@strawberry.enum(
    description="Why payments closed a payment on its own; a charge it holds anyway is "
    "refunded in full."
)
class PaymentClosedReason(Enum):
    SUPERSEDED = strawberry.enum_value(
        "SUPERSEDED", description="A new checkout replaced it (price change or expiry)."
    )
    CANCELED = strawberry.enum_value("CANCELED", description="Its checkout was canceled.")
    DUPLICATE = strawberry.enum_value(
        "DUPLICATE", description="Another payment already holds the seat."
    )
    SEAT_HELD = strawberry.enum_value("SEAT_HELD", description="The seat was already held.")
    COURSE_FREE = strawberry.enum_value(
        "COURSE_FREE", description="The course became free; the seat is free."
    )


@strawberry.federation.type(keys=[Key(fields=FieldSet("id"), resolvable=False)])
class Course:
    id: strawberry.ID


@strawberry.type
class Checkout:
    provider: ProviderName
    client_secret: str | None = strawberry.field(
        default=None, description="Stripe PaymentIntent client secret."
    )
    order_id: str | None = strawberry.field(default=None, description="Razorpay order id.")
    key_id: str | None = strawberry.field(default=None, description="Razorpay public key id.")
    sandbox_url: str | None = strawberry.field(
        default=None, description="Built-in sandbox: GET shows a page, POST settles."
    )
    expires_at: datetime | None = None


@strawberry.type
class Refund:
    id: strawberry.ID
    amount: Money
    status: RefundStatus
    reason: str | None
    created_at: datetime

    @classmethod
    def from_model(cls, refund: models.Refund) -> Refund:
        return cls(
            id=strawberry.ID(str(refund.id)),
            amount=Money.of(refund.amount_minor, refund.currency),
            status=RefundStatus(refund.status),
            reason=refund.reason,
            created_at=refund.created_at,
        )


@strawberry.federation.type(keys=["id"])
class Payment:
    id: strawberry.ID
    status: PaymentStatus
    provider: ProviderName
    amount: Money
    refunded_amount: Money
    created_at: datetime
    succeeded_at: datetime | None
    closed_reason: PaymentClosedReason | None = strawberry.field(
        description="Set when payments closed the payment on its own (see the enum)."
    )
    _model: strawberry.Private[models.Payment]

    @classmethod
    def from_model(cls, payment: models.Payment) -> Payment:
        return cls(
            id=strawberry.ID(str(payment.id)),
            status=PaymentStatus(payment.status),
            provider=ProviderName(payment.provider),
            amount=Money.of(payment.amount_minor, payment.currency),
            refunded_amount=Money.of(payment.refunded_minor, payment.currency),
            created_at=payment.created_at,
            succeeded_at=payment.succeeded_at,
            closed_reason=PaymentClosedReason(payment.closed_reason)
            if payment.closed_reason
            else None,
            _model=payment,
        )

    @strawberry.field
    def user(self) -> User:
        return User(id=strawberry.ID(str(self._model.user_id)))

    @strawberry.field
    def course(self) -> Course:
        return Course(id=strawberry.ID(self._model.course_id))

    @strawberry.field(description="What the client needs to pay; null once settled.")
    def checkout(self, info: Info[Context, None]) -> Checkout | None:
        details = info.context.container.payments.checkout_details(self._model)
        if details is None:
            return None
        return Checkout(
            provider=self.provider,
            client_secret=details.client_secret,
            order_id=details.order_id,
            key_id=details.key_id,
            sandbox_url=details.sandbox_url,
            expires_at=self._model.checkout_expires_at,
        )

    # At most one refund per payment (uq_refunds_payment_id).
    @strawberry.field(directives=[list_size(assumed=1)])
    async def refunds(self, info: Info[Context, None]) -> list[Refund]:
        refunds = await info.context.loaders.refunds_by_payment.load(str(self.id))
        return [Refund.from_model(r) for r in refunds]

    @classmethod
    async def resolve_reference(
        cls, info: Info[Context, None], id: strawberry.ID
    ) -> Payment | None:
        # Payments are private: only their owner (or an ADMIN) resolves them.
        payment = await info.context.loaders.payments.load(str(id))
        if payment is None or not owns_payments_of(info.context.viewer, payment.user_id):
            return None
        return cls.from_model(payment)


@strawberry.federation.type(keys=["id"])
class User:
    id: strawberry.ID

    @strawberry.field(
        description="FORBIDDEN unless the viewer is this user or an ADMIN; newest first, at "
        f"most `first` (1 to {MAX_PAYMENTS_LISTED}).",
        directives=[list_size(slicing=["first"])],
        extensions=[PermissionExtension([PaymentsOfSelfOrAdmin()], use_directives=False)],
    )
    async def payments(
        self, info: Info[Context, None], first: int = MAX_PAYMENTS_LISTED
    ) -> list[Payment]:
        info.context.container.payments.check_page_size(first)
        payments = await info.context.loaders.payments_by_user.load(str(self.id))
        return [Payment.from_model(p) for p in payments[:first]]

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> User:
        return cls(id=id)


@strawberry.input
class CreatePaymentInput:
    course_id: strawberry.ID
    provider: ProviderName


@strawberry.input
class VerifyPaymentInput:
    payment_id: strawberry.ID
    gateway_payment_id: str
    signature: str | None = None
