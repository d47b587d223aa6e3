"""Stripe through the official SDK: PaymentIntents, refunds, `Stripe-Signature` webhooks.

Async calls go through `stripe.HTTPXClient`; the API base address comes from settings,
so tests point the real SDK at a local stand-in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import stripe

from subgraphs.payments.models import ProviderName
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
)

_INTENT_STATES = {
    "succeeded": ChargeState.SUCCEEDED,
    "canceled": ChargeState.CANCELED,
}
_REFUND_STATES = {
    "succeeded": RefundState.SUCCEEDED,
    "failed": RefundState.FAILED,
    "canceled": RefundState.FAILED,
}


class StripeProvider:
    name = ProviderName.STRIPE

    def __init__(
        self,
        secret_key: str,
        webhook_secret: str | None,
        api_base: str,
        *,
        timeout_seconds: float,
        tolerance_seconds: int,
    ) -> None:
        self._http = stripe.HTTPXClient(timeout=timeout_seconds)
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base.rstrip("/")},
            http_client=self._http,
            max_network_retries=2,
        )
        self._webhook_secret = webhook_secret
        self._tolerance = tolerance_seconds

    async def create_checkout(self, request: CheckoutRequest) -> CreatedCheckout:
        intent = await self._call(
            self._client.v1.payment_intents.create_async(
                {
                    "amount": request.amount_minor,
                    "currency": request.currency.lower(),
                    "description": request.description,
                    "automatic_payment_methods": {"enabled": True},
                    "metadata": {
                        "payment_id": request.payment_id,
                        "user_id": request.user_id,
                        "course_id": request.course_id,
                    },
                },
                {"idempotency_key": request.idempotency_key},
            )
        )
        return CreatedCheckout(provider_ref=intent.id, client_secret=intent.client_secret)

    def checkout_details(self, provider_ref: str, client_secret: str | None) -> CheckoutDetails:
        return CheckoutDetails(client_secret=client_secret)

    async def fetch_charge(
        self, provider_ref: str, gateway_payment_id: str, signature: str | None
    ) -> ChargeStatus:
        # The client reports the PaymentIntent it confirmed; it must be this payment's.
        if gateway_payment_id != provider_ref:
            raise InvalidVerification("The PaymentIntent does not belong to this payment.")
        return await self.lookup_charge(provider_ref)

    async def lookup_charge(self, provider_ref: str) -> ChargeStatus:
        retrieved = await self._call(self._client.v1.payment_intents.retrieve_async(provider_ref))
        intent: dict[str, Any] = retrieved.to_dict()
        state = _INTENT_STATES.get(str(intent.get("status")), ChargeState.PENDING)
        error: dict[str, Any] = intent.get("last_payment_error") or {}
        if state is ChargeState.PENDING and error:
            # Stripe puts a declined intent back to requires_payment_method with the error.
            state = ChargeState.FAILED
        charge = intent.get("latest_charge")
        return ChargeStatus(
            state=state,
            gateway_payment_id=charge if isinstance(charge, str) else str(intent["id"]),
            amount_minor=_int_or_none(intent.get("amount")),
            currency=str(intent.get("currency", "")).upper() or None,
            failure_reason=error.get("message"),
        )

    async def refund(self, request: RefundRequest) -> ProviderRefund:
        refund = await self._call(
            self._client.v1.refunds.create_async(
                {"payment_intent": request.provider_ref, "amount": request.amount_minor},
                {"idempotency_key": request.idempotency_key},
            )
        )
        return ProviderRefund(
            provider_refund_id=refund.id,
            state=_REFUND_STATES.get(str(refund.status), RefundState.PENDING),
        )

    async def cancel_checkout(self, provider_ref: str) -> bool:
        try:
            await self._call(self._client.v1.payment_intents.cancel_async(provider_ref))
        except ProviderDeclined:
            # Stripe refuses to cancel an intent that succeeded or is already canceled.
            return False
        return True

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        if not self._webhook_secret:
            raise InvalidWebhook("STRIPE_WEBHOOK_SECRET is not configured")
        try:
            stripe.WebhookSignature.verify_header(
                body, headers.get("stripe-signature"), self._webhook_secret, self._tolerance
            )
        except stripe.SignatureVerificationError as error:
            raise InvalidWebhook(str(error.user_message or error)) from None
        try:
            event: dict[str, Any] = orjson.loads(body)
            event_id, event_type = str(event["id"]), str(event["type"])
            obj: dict[str, Any] = event["data"]["object"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise InvalidWebhook("malformed event") from None
        if event_type in ("payment_intent.succeeded", "payment_intent.payment_failed"):
            succeeded = event_type == "payment_intent.succeeded"
            charge = obj.get("latest_charge")
            return WebhookEvent(
                event_id=event_id,
                event_type=event_type,
                kind=WebhookKind.PAYMENT_SUCCEEDED if succeeded else WebhookKind.PAYMENT_FAILED,
                provider_ref=obj.get("id"),
                gateway_payment_id=charge if isinstance(charge, str) else obj.get("id"),
                amount_minor=_int_or_none(obj.get("amount")),
                currency=str(obj.get("currency", "")).upper() or None,
                failure_reason=(obj.get("last_payment_error") or {}).get("message"),
            )
        if event_type == "charge.refunded":
            refunds = (obj.get("refunds") or {}).get("data") or []
            latest = refunds[0] if refunds else {}
            return WebhookEvent(
                event_id=event_id,
                event_type=event_type,
                kind=WebhookKind.REFUND_SUCCEEDED,
                provider_ref=obj.get("payment_intent"),
                gateway_payment_id=obj.get("id"),
                currency=str(obj.get("currency", "")).upper() or None,
                provider_refund_id=latest.get("id"),
                refund_amount_minor=_int_or_none(latest.get("amount")),
            )
        return WebhookEvent(event_id=event_id, event_type=event_type, kind=WebhookKind.IGNORED)

    async def _call(self, pending: Any) -> Any:
        try:
            return await pending
        except (
            stripe.APIConnectionError,
            stripe.APIError,
            stripe.RateLimitError,
            stripe.AuthenticationError,
        ) as error:
            raise ProviderUnavailable(f"Stripe: {error.user_message or error}") from error
        except stripe.StripeError as error:
            message = str(error.user_message or "Stripe refused the request.")
            raise ProviderDeclined(message) from error

    async def aclose(self) -> None:
        await self._http.close_async()


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
