"""Razorpay through the official SDK: orders, checkout signatures, refunds, webhooks.

The SDK blocks (requests), so every call runs in a worker thread, with a client of its
own (a `requests.Session` is not meant to be shared between threads).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import orjson
import razorpay
import requests
from razorpay.errors import BadRequestError, GatewayError, ServerError, SignatureVerificationError

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

T = TypeVar("T")

_PAYMENT_STATES = {
    "captured": ChargeState.SUCCEEDED,
    "failed": ChargeState.FAILED,
}
_REFUND_STATES = {"processed": RefundState.SUCCEEDED, "failed": RefundState.FAILED}


class RazorpayProvider:
    name = ProviderName.RAZORPAY

    def __init__(
        self,
        key_id: str,
        key_secret: str,
        webhook_secret: str | None,
        api_base: str,
        *,
        timeout_seconds: float,
    ) -> None:
        self._key_id = key_id
        self._key_secret = key_secret
        self._webhook_secret = webhook_secret
        self._api_base = api_base.rstrip("/")
        self._timeout = timeout_seconds

    def _client(self) -> razorpay.Client:
        return razorpay.Client(auth=(self._key_id, self._key_secret), base_url=self._api_base)

    async def _call(self, work: Callable[[razorpay.Client], T]) -> T:
        def run() -> T:
            client = self._client()
            try:
                return work(client)
            finally:
                client.session.close()

        try:
            return await asyncio.to_thread(run)
        except (ServerError, GatewayError, requests.RequestException) as error:
            raise ProviderUnavailable(f"Razorpay: {error}") from error
        except BadRequestError as error:
            raise ProviderDeclined(str(error) or "Razorpay refused the request.") from error

    async def create_checkout(self, request: CheckoutRequest) -> CreatedCheckout:
        data = {
            "amount": request.amount_minor,
            "currency": request.currency,
            # Razorpay's merchant reference: our payment id (and the idempotency key).
            "receipt": request.idempotency_key,
            "notes": {
                "payment_id": request.payment_id,
                "user_id": request.user_id,
                "course_id": request.course_id,
            },
        }
        timeout = self._timeout
        order: dict[str, Any] = await self._call(
            lambda client: client.order.create(data, timeout=timeout)
        )
        return CreatedCheckout(provider_ref=str(order["id"]))

    def checkout_details(self, provider_ref: str, client_secret: str | None) -> CheckoutDetails:
        return CheckoutDetails(order_id=provider_ref, key_id=self._key_id)

    async def fetch_charge(
        self, provider_ref: str, gateway_payment_id: str, signature: str | None
    ) -> ChargeStatus:
        if not signature:
            raise InvalidVerification("Razorpay payments need the checkout signature.")
        proof = {
            "razorpay_order_id": provider_ref,
            "razorpay_payment_id": gateway_payment_id,
            "razorpay_signature": signature,
        }
        try:
            self._client().utility.verify_payment_signature(proof)
        except SignatureVerificationError:
            raise InvalidVerification("The Razorpay signature does not match.") from None
        timeout = self._timeout
        payment: dict[str, Any] = await self._call(
            lambda client: client.payment.fetch(gateway_payment_id, timeout=timeout)
        )
        if payment.get("order_id") != provider_ref:
            raise InvalidVerification("The Razorpay payment belongs to another order.")
        return ChargeStatus(
            state=_PAYMENT_STATES.get(str(payment.get("status")), ChargeState.PENDING),
            gateway_payment_id=str(payment["id"]),
            amount_minor=_int_or_none(payment.get("amount")),
            currency=str(payment.get("currency", "")).upper() or None,
            failure_reason=payment.get("error_description"),
        )

    async def refund(self, request: RefundRequest) -> ProviderRefund:
        if not request.gateway_payment_id:
            raise ProviderDeclined("The Razorpay payment id is unknown.")
        payment_id = request.gateway_payment_id
        data = {"amount": request.amount_minor, "receipt": request.idempotency_key}
        timeout = self._timeout
        refund: dict[str, Any] = await self._call(
            lambda client: client.payment.refund(payment_id, data, timeout=timeout)
        )
        return ProviderRefund(
            provider_refund_id=str(refund["id"]),
            state=_REFUND_STATES.get(str(refund.get("status")), RefundState.PENDING),
        )

    async def lookup_charge(self, provider_ref: str) -> ChargeStatus:
        timeout = self._timeout
        found: dict[str, Any] = await self._call(
            lambda client: client.order.payments(provider_ref, timeout=timeout)
        )
        items: list[dict[str, Any]] = found.get("items") or []
        # An order may have failed attempts before the one that was captured.
        captured = [p for p in items if p.get("status") in ("captured", "refunded")]
        if not captured:
            return ChargeStatus(ChargeState.PENDING, None, None, None)
        payment = captured[0]
        return ChargeStatus(
            state=ChargeState.SUCCEEDED,
            gateway_payment_id=str(payment["id"]),
            amount_minor=_int_or_none(payment.get("amount")),
            currency=str(payment.get("currency", "")).upper() or None,
            refunded_minor=_int_or_none(payment.get("amount_refunded")),
        )

    async def cancel_checkout(self, provider_ref: str) -> bool:
        # Razorpay has no way to cancel an order; a late capture is refunded (I1).
        return False

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        if not self._webhook_secret:
            raise InvalidWebhook("RAZORPAY_WEBHOOK_SECRET is not configured")
        signature = headers.get("x-razorpay-signature")
        if not signature:
            raise InvalidWebhook("missing X-Razorpay-Signature")
        try:
            text = body.decode()
            # The SDK wants the body as str; it signs exactly these bytes.
            self._client().utility.verify_webhook_signature(text, signature, self._webhook_secret)
        except (UnicodeDecodeError, SignatureVerificationError):
            raise InvalidWebhook("signature mismatch") from None
        # Razorpay's scheme has no timestamp: replays are caught by the event id alone.
        event_id = headers.get("x-razorpay-event-id")
        try:
            event: dict[str, Any] = orjson.loads(body)
            event_type = str(event["event"])
            payload: dict[str, Any] = event.get("payload") or {}
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise InvalidWebhook("malformed event") from None
        if not event_id:
            raise InvalidWebhook("missing X-Razorpay-Event-Id")
        payment = (payload.get("payment") or {}).get("entity") or {}
        if event_type in ("payment.captured", "payment.failed"):
            captured = event_type == "payment.captured"
            return WebhookEvent(
                event_id=event_id,
                event_type=event_type,
                kind=WebhookKind.PAYMENT_SUCCEEDED if captured else WebhookKind.PAYMENT_FAILED,
                provider_ref=payment.get("order_id"),
                gateway_payment_id=payment.get("id"),
                amount_minor=_int_or_none(payment.get("amount")),
                currency=str(payment.get("currency", "")).upper() or None,
                failure_reason=payment.get("error_description"),
            )
        if event_type == "refund.processed":
            refund = (payload.get("refund") or {}).get("entity") or {}
            return WebhookEvent(
                event_id=event_id,
                event_type=event_type,
                kind=WebhookKind.REFUND_SUCCEEDED,
                provider_ref=payment.get("order_id"),
                gateway_payment_id=refund.get("payment_id") or payment.get("id"),
                currency=str(refund.get("currency", "")).upper() or None,
                provider_refund_id=refund.get("id"),
                refund_amount_minor=_int_or_none(refund.get("amount")),
            )
        return WebhookEvent(event_id=event_id, event_type=event_type, kind=WebhookKind.IGNORED)

    async def aclose(self) -> None:
        return None


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
