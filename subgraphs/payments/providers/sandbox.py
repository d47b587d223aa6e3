"""The built-in sandbox provider: the lifecycle of a real one, without credentials.

Checkout sessions live in payments' own database (as Stripe keeps intents on its side).
`settle` is what the customer's Pay/Decline does: it answers the proof the client sends
to `verifyPayment` and queues a signed webhook to `/webhooks/sandbox` through the
outbox, so it is delivered with retries like a real provider's.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from coursegraph import outbox
from coursegraph.db import Database
from coursegraph.events import Event
from subgraphs.payments.models import ProviderName, SandboxCheckout, SandboxRefund, SandboxStatus
from subgraphs.payments.models import outbox as outbox_table
from subgraphs.payments.providers.base import (
    ChargeState,
    ChargeStatus,
    CheckoutDetails,
    CheckoutRequest,
    CreatedCheckout,
    InvalidVerification,
    InvalidWebhook,
    ProviderDeclined,
    ProviderRefund,
    ProviderUnavailable,
    RefundRequest,
    RefundState,
    WebhookEvent,
    WebhookKind,
    hmac_hex,
    timestamped_signature,
    verify_timestamped_signature,
)

SIGNATURE_HEADER = "Sandbox-Signature"
_CHECKOUT_STATES: dict[str, ChargeState] = {
    SandboxStatus.OPEN: ChargeState.PENDING,
    SandboxStatus.SUCCEEDED: ChargeState.SUCCEEDED,
    SandboxStatus.FAILED: ChargeState.FAILED,
    SandboxStatus.CANCELED: ChargeState.CANCELED,
}
WEBHOOK_TOPIC = "sandbox.webhook"
OUTCOMES = ("succeeded", "failed")


class CheckoutNotFound(Exception):
    pass


class CheckoutClosed(Exception):
    """Already settled with the other outcome."""


class CheckoutGone(Exception):
    """Expired, or canceled by the merchant: it can no longer be paid (HTTP 410)."""


@dataclass(frozen=True, slots=True)
class SandboxCheckoutView:
    id: str
    amount_minor: int
    currency: str
    status: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Settlement:
    gateway_payment_id: str
    signature: str


class SandboxProvider:
    name = ProviderName.SANDBOX

    def __init__(
        self,
        database: Database,
        *,
        webhook_secret: str,
        public_url: str,
        checkout_ttl_seconds: int,
        tolerance_seconds: int,
        timeout_seconds: float,
    ) -> None:
        self._db = database
        self._secret = webhook_secret
        self._public_url = public_url.rstrip("/")
        self._ttl = timedelta(seconds=checkout_ttl_seconds)
        self._tolerance = tolerance_seconds
        self._http = httpx.AsyncClient(timeout=timeout_seconds)
        # Set by the composition root to the outbox relay's wake-up.
        self.on_settled: Callable[[], None] = lambda: None

    # ------------------------------------------------------------------ merchant side
    async def create_checkout(self, request: CheckoutRequest) -> CreatedCheckout:
        expires_at = datetime.now(UTC) + self._ttl
        async with self._db.transaction() as session:
            # The idempotency key is the merchant reference: a retry finds the same session.
            await session.execute(
                insert(SandboxCheckout)
                .values(
                    id=f"sbx_cs_{secrets.token_hex(12)}",
                    reference=request.idempotency_key,
                    amount_minor=request.amount_minor,
                    currency=request.currency,
                    status=SandboxStatus.OPEN,
                    expires_at=expires_at,
                )
                .on_conflict_do_nothing(index_elements=[SandboxCheckout.reference])
            )
            checkout = await session.scalar(
                select(SandboxCheckout).where(SandboxCheckout.reference == request.idempotency_key)
            )
        assert checkout is not None
        return CreatedCheckout(provider_ref=checkout.id, expires_at=checkout.expires_at)

    def checkout_details(self, provider_ref: str, client_secret: str | None) -> CheckoutDetails:
        return CheckoutDetails(sandbox_url=f"{self._public_url}/sandbox/checkout/{provider_ref}")

    def proof(self, checkout_id: str, gateway_payment_id: str) -> str:
        return hmac_hex(self._secret, f"{checkout_id}|{gateway_payment_id}")

    async def fetch_charge(
        self, provider_ref: str, gateway_payment_id: str, signature: str | None
    ) -> ChargeStatus:
        expected = self.proof(provider_ref, gateway_payment_id)
        if not signature or not secrets.compare_digest(expected, signature):
            raise InvalidVerification("The sandbox signature does not match.")
        async with self._db.read() as session:
            checkout = await session.get(SandboxCheckout, provider_ref)
        if checkout is None or checkout.gateway_payment_id != gateway_payment_id:
            raise InvalidVerification("The sandbox knows no such payment.")
        settled: dict[str, ChargeState] = {
            SandboxStatus.SUCCEEDED: ChargeState.SUCCEEDED,
            SandboxStatus.FAILED: ChargeState.FAILED,
        }
        state = settled.get(checkout.status, ChargeState.PENDING)
        return ChargeStatus(
            state=state,
            gateway_payment_id=gateway_payment_id,
            amount_minor=checkout.amount_minor,
            currency=checkout.currency,
            failure_reason="Declined in the sandbox." if state is ChargeState.FAILED else None,
        )

    async def refund(self, request: RefundRequest) -> ProviderRefund:
        refund_id = f"sbx_re_{request.idempotency_key}"
        async with self._db.transaction() as session:
            checkout = await session.get(
                SandboxCheckout, request.provider_ref, with_for_update=True
            )
            if checkout is None or checkout.status != SandboxStatus.SUCCEEDED:
                raise ProviderDeclined("The sandbox payment was not captured.")
            inserted = await session.scalar(
                insert(SandboxRefund)
                .values(id=refund_id, checkout_id=checkout.id, amount_minor=request.amount_minor)
                .on_conflict_do_nothing(index_elements=[SandboxRefund.id])
                .returning(SandboxRefund.id)
            )
            if inserted is not None:
                if checkout.refunded_minor + request.amount_minor > checkout.amount_minor:
                    raise ProviderDeclined("The refund exceeds what was captured.")
                checkout.refunded_minor += request.amount_minor
        return ProviderRefund(provider_refund_id=refund_id, state=RefundState.SUCCEEDED)

    async def lookup_charge(self, provider_ref: str) -> ChargeStatus:
        async with self._db.read() as session:
            checkout = await session.get(SandboxCheckout, provider_ref)
        if checkout is None:
            return ChargeStatus(ChargeState.PENDING, None, None, None)
        return ChargeStatus(
            state=_CHECKOUT_STATES[checkout.status],
            gateway_payment_id=checkout.gateway_payment_id,
            amount_minor=checkout.amount_minor,
            currency=checkout.currency,
            refunded_minor=checkout.refunded_minor,
        )

    async def cancel_checkout(self, provider_ref: str) -> bool:
        async with self._db.transaction() as session:
            checkout = await session.get(SandboxCheckout, provider_ref, with_for_update=True)
            if checkout is None or checkout.status not in (
                SandboxStatus.OPEN,
                SandboxStatus.CANCELED,
            ):
                return False
            checkout.status = SandboxStatus.CANCELED
        return True

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        verify_timestamped_signature(
            self._secret, body, headers.get(SIGNATURE_HEADER.lower()), self._tolerance
        )
        try:
            event: dict[str, Any] = orjson.loads(body)
            event_id, event_type = str(event["id"]), str(event["type"])
            data: dict[str, Any] = event["data"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise InvalidWebhook("malformed event") from None
        kinds = {
            "payment.succeeded": WebhookKind.PAYMENT_SUCCEEDED,
            "payment.failed": WebhookKind.PAYMENT_FAILED,
        }
        return WebhookEvent(
            event_id=event_id,
            event_type=event_type,
            kind=kinds.get(event_type, WebhookKind.IGNORED),
            provider_ref=data.get("checkoutId"),
            gateway_payment_id=data.get("gatewayPaymentId"),
            amount_minor=data.get("amountMinor"),
            currency=data.get("currency"),
            failure_reason="Declined in the sandbox." if event_type == "payment.failed" else None,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------------ customer side
    async def checkout(self, checkout_id: str) -> SandboxCheckoutView:
        async with self._db.read() as session:
            checkout = await session.get(SandboxCheckout, checkout_id)
        if checkout is None:
            raise CheckoutNotFound(checkout_id)
        return SandboxCheckoutView(
            id=checkout.id,
            amount_minor=checkout.amount_minor,
            currency=checkout.currency,
            status=checkout.status,
            expires_at=checkout.expires_at,
        )

    async def settle(self, checkout_id: str, outcome: str) -> Settlement:
        """The customer pays or declines; repeating the same outcome answers the same."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}")
        status = outcome.upper()
        async with self._db.transaction() as session:
            checkout = await session.get(SandboxCheckout, checkout_id, with_for_update=True)
            if checkout is None:
                raise CheckoutNotFound(checkout_id)
            if checkout.status == SandboxStatus.CANCELED:
                raise CheckoutGone("This sandbox checkout was canceled by the merchant.")
            if checkout.status == SandboxStatus.OPEN:
                if checkout.expires_at <= datetime.now(UTC):
                    raise CheckoutGone("This sandbox checkout has expired.")
                checkout.status = status
                checkout.gateway_payment_id = f"sbx_pay_{secrets.token_hex(12)}"
                await outbox.add(
                    session,
                    outbox_table,
                    WEBHOOK_TOPIC,
                    {
                        "id": f"evt_sbx_{uuid.uuid4().hex}",
                        "type": f"payment.{outcome}",
                        "data": {
                            "checkoutId": checkout.id,
                            "gatewayPaymentId": checkout.gateway_payment_id,
                            "amountMinor": checkout.amount_minor,
                            "currency": checkout.currency,
                        },
                    },
                    dedupe_key=f"sandbox:{checkout.id}:settled",
                )
            elif checkout.status != status:
                raise CheckoutClosed(f"This sandbox checkout already {checkout.status.lower()}.")
            assert checkout.gateway_payment_id is not None
            gateway_payment_id = checkout.gateway_payment_id
        self.on_settled()
        return Settlement(gateway_payment_id, self.proof(checkout_id, gateway_payment_id))

    async def deliver_webhook(self, event: Event) -> None:
        """Outbox handler: POST the event, signed at sending time, until payments takes it."""
        body = orjson.dumps(event.payload)
        try:
            response = await self._http.post(
                f"{self._public_url}/webhooks/sandbox",
                content=body,
                headers={
                    "content-type": "application/json",
                    SIGNATURE_HEADER: timestamped_signature(self._secret, body),
                },
            )
        except httpx.HTTPError as error:
            raise ProviderUnavailable(f"sandbox webhook not delivered: {error}") from error
        if response.status_code >= 300:
            raise ProviderUnavailable(f"sandbox webhook refused: HTTP {response.status_code}")
