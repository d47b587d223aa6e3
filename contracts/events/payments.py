"""Events of the payments subgraph, and its internal ones (its outbox handlers' work)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from contracts.events import EventPayload

Provider = Literal["STRIPE", "RAZORPAY", "SANDBOX"]


class _Charge(EventPayload):
    paymentId: str
    userId: str
    courseId: str
    amountMinor: int = Field(gt=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")

    def entities(self) -> tuple[str, ...]:
        return (f"Payment:{self.paymentId}", f"User:{self.userId}", f"Course:{self.courseId}")


class PaymentSucceeded(_Charge):
    """The provider settled the charge (verification, webhook or the reconciler)."""

    TOPIC: ClassVar[str] = "payment.succeeded"
    VERSION: ClassVar[int] = 1
    provider: Provider


class PaymentFailed(_Charge):
    """The provider declined the charge of a pending payment."""

    TOPIC: ClassVar[str] = "payment.failed"
    VERSION: ClassVar[int] = 1
    provider: Provider
    reason: str


class PaymentRefunded(_Charge):
    """A refund settled; `amountMinor` is the amount refunded (all or part)."""

    TOPIC: ClassVar[str] = "payment.refunded"
    VERSION: ClassVar[int] = 1
    refundId: str


class PaymentCanceled(_Charge):
    """A pending payment was closed unpaid: a newer checkout replaced it (`SUPERSEDED`:
    price change or expiry) or the provider canceled its checkout (`CANCELED`). A charge
    that settles on it later is refunded in full."""

    TOPIC: ClassVar[str] = "payment.canceled"
    VERSION: ClassVar[int] = 1
    provider: Provider
    reason: Literal["SUPERSEDED", "CANCELED"]


class PaymentUnkept(EventPayload):
    """Internal: a settled charge of a closed checkout, to be refunded in full."""

    TOPIC: ClassVar[str] = "payment.unkept"
    VERSION: ClassVar[int] = 1
    INTERNAL: ClassVar[bool] = True
    paymentId: str


class SandboxWebhook(EventPayload):
    """Internal: the sandbox provider's webhook, posted to payments until it is taken."""

    TOPIC: ClassVar[str] = "sandbox.webhook"
    VERSION: ClassVar[int] = 1
    INTERNAL: ClassVar[bool] = True
    id: str
    type: str
    data: dict[str, Any]


EVENTS: tuple[type[EventPayload], ...] = (
    PaymentSucceeded,
    PaymentFailed,
    PaymentRefunded,
    PaymentCanceled,
    PaymentUnkept,
    SandboxWebhook,
)
