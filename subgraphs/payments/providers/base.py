"""The adapter interface every payment provider implements, and the values it speaks.

Services talk to providers only through this: they never see an SDK object.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from subgraphs.payments.models import ProviderName


class ChargeState(StrEnum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


class RefundState(StrEnum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class WebhookKind(StrEnum):
    PAYMENT_SUCCEEDED = "PAYMENT_SUCCEEDED"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    REFUND_SUCCEEDED = "REFUND_SUCCEEDED"
    IGNORED = "IGNORED"


class ProviderUnavailable(Exception):
    """The provider could not be reached or answered with a server error; try again."""


# What a client is told when its provider is unavailable (the details go to the log).
PROVIDER_UNAVAILABLE = "The payment provider is unavailable; try again."


class ProviderDeclined(Exception):
    """The provider refused the request; the message is safe to show."""


class InvalidWebhook(Exception):
    """A webhook whose signature, timestamp or body must be refused (HTTP 400)."""


class InvalidVerification(Exception):
    """A client's proof of payment (signature, gateway id) does not check out."""


@dataclass(frozen=True, slots=True)
class CheckoutRequest:
    payment_id: str
    user_id: str
    course_id: str
    description: str
    amount_minor: int
    currency: str
    # Sent to the provider so a retried create returns the same checkout object.
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class CreatedCheckout:
    provider_ref: str
    client_secret: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CheckoutDetails:
    """What the client needs to pay; the Checkout type of the API."""

    client_secret: str | None = None
    order_id: str | None = None
    key_id: str | None = None
    sandbox_url: str | None = None


@dataclass(frozen=True, slots=True)
class ChargeStatus:
    state: ChargeState
    gateway_payment_id: str | None
    amount_minor: int | None
    currency: str | None
    failure_reason: str | None = None
    # What the provider has refunded of it, when it says (the reconciler compares).
    refunded_minor: int | None = None


@dataclass(frozen=True, slots=True)
class RefundRequest:
    provider_ref: str
    gateway_payment_id: str | None
    amount_minor: int
    currency: str
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class ProviderRefund:
    provider_refund_id: str
    state: RefundState


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    event_id: str
    event_type: str
    kind: WebhookKind
    # The checkout object the event concerns (intent, order, sandbox session).
    provider_ref: str | None = None
    gateway_payment_id: str | None = None
    amount_minor: int | None = None
    currency: str | None = None
    failure_reason: str | None = None
    provider_refund_id: str | None = None
    refund_amount_minor: int | None = None


class PaymentProvider(Protocol):
    name: ProviderName

    async def create_checkout(self, request: CheckoutRequest) -> CreatedCheckout: ...

    def checkout_details(self, provider_ref: str, client_secret: str | None) -> CheckoutDetails: ...

    async def fetch_charge(
        self, provider_ref: str, gateway_payment_id: str, signature: str | None
    ) -> ChargeStatus:
        """The charge's state at the provider, after checking the client's proof."""
        ...

    async def refund(self, request: RefundRequest) -> ProviderRefund: ...

    async def lookup_charge(self, provider_ref: str) -> ChargeStatus:
        """The checkout's charge as the provider records it (for the reconciler)."""
        ...

    async def cancel_checkout(self, provider_ref: str) -> bool:
        """Close a checkout that must no longer be paid (I5); False when the provider
        cannot (Razorpay orders) or it was paid already: a late charge is refunded (I1)."""
        ...

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Verify the signature over the raw body, then read the event; or InvalidWebhook."""
        ...

    async def aclose(self) -> None: ...


# ------------------------------------------------------------------ signatures
def hmac_hex(secret: str, message: str | bytes) -> str:
    data = message.encode() if isinstance(message, str) else message
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def timestamped_signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, Stripe's scheme."""
    ts = int(time.time()) if timestamp is None else timestamp
    return f"t={ts},v1={hmac_hex(secret, str(ts).encode() + b'.' + body)}"


def verify_timestamped_signature(
    secret: str, body: bytes, header: str | None, tolerance_seconds: int
) -> None:
    """Check a `t=…,v1=…` header (several v1 entries allowed, for secret rotation)."""
    if not header:
        raise InvalidWebhook("missing signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise InvalidWebhook("malformed signature timestamp") from None
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise InvalidWebhook("malformed signature header")
    expected = hmac_hex(secret, str(timestamp).encode() + b"." + body)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise InvalidWebhook("signature mismatch")
    if abs(time.time() - timestamp) > tolerance_seconds:
        raise InvalidWebhook("signature timestamp outside the tolerance")
