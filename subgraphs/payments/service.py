"""Payments' domain logic: checkout, verification and webhooks (refunds: `refunds.py`;
effects on courses: `effects.py`). No GraphQL and no HTTP here; every method owns its
transactions.

Every change of a payment's status happens under `SELECT … FOR UPDATE` on its row, so a
`verifyPayment` and a webhook racing each other make one transition, and the effect on
courses is one outbox row (its `dedupe_key` is unique).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events.payments import (
    PaymentCanceled,
    PaymentRefunded,
    PaymentSucceeded,
    PaymentUnkept,
)
from contracts.events.payments import PaymentFailed as PaymentFailedEvent
from coursegraph import outbox
from coursegraph.batch import load_by_key
from coursegraph.db import Database, is_unique_violation
from coursegraph.errors import (
    BadUserInput,
    Conflict,
    NotFound,
    PaymentFailed,
    ServiceUnavailable,
)
from coursegraph.identity import Viewer
from coursegraph.ids import require_uuid
from coursegraph.live import LiveFeed, watch_state
from coursegraph.log import get_logger
from coursegraph.money import normalise_currency
from coursegraph.outbox import OutboxRelay
from coursegraph.settings import Settings
from subgraphs.payments.clients import OPEN_FOR_ENROLLMENT, SEAT_STATUSES, CoursesClient
from subgraphs.payments.ledger import apply_provider_refund, lock_payment
from subgraphs.payments.models import (
    SETTLED,
    ClosedReason,
    Payment,
    PaymentStatus,
    ProviderName,
    Refund,
    WebhookEvent,
)
from subgraphs.payments.models import outbox as outbox_table
from subgraphs.payments.policy import owns_payments_of
from subgraphs.payments.providers.base import (
    PROVIDER_UNAVAILABLE,
    ChargeState,
    ChargeStatus,
    CheckoutDetails,
    CheckoutRequest,
    InvalidVerification,
    PaymentProvider,
    ProviderDeclined,
    ProviderUnavailable,
    WebhookKind,
)
from subgraphs.payments.providers.base import WebhookEvent as ProviderEvent

log = get_logger("coursegraph.payments")

# The most `User.payments(first:)` lists (declared to routers as its slicing argument).
MAX_PAYMENTS_LISTED = 100
# The loaders' statements, built once (coursegraph/batch.py).
_PAYMENTS = select(Payment)
_NEWEST_FIRST = select(Payment).order_by(Payment.created_at.desc(), Payment.id)
_REFUNDS_OLDEST_FIRST = select(Refund).order_by(Refund.created_at)


# Every event that changes a payment's status (its own internal `payment.unkept` too: the
# charge of a closed checkout settles), keyed by the payment: what `paymentUpdated` waits on.
LIVE_KEYS: dict[str, str] = {
    topic: "paymentId"
    for topic in (
        PaymentSucceeded.TOPIC,
        PaymentFailedEvent.TOPIC,
        PaymentCanceled.TOPIC,
        PaymentRefunded.TOPIC,
        PaymentUnkept.TOPIC,
    )
}


def _client_view(payment: Payment) -> Hashable:
    """What a subscriber sees change: a new value is sent only when this differs."""
    return (
        payment.status,
        payment.refunded_minor,
        payment.closed_reason,
        payment.succeeded_at,
        payment.provider_ref,
    )


@dataclass(frozen=True, slots=True)
class Order:
    """What a checkout charges, as courses states it: never from the client."""

    title: str
    price_minor: int
    currency: str
    viewer_enrolled: bool


class PaymentService:
    def __init__(
        self,
        database: Database,
        providers: Mapping[ProviderName, PaymentProvider],
        courses: CoursesClient,
        relay: OutboxRelay,
        settings: Settings,
        live: LiveFeed,
    ) -> None:
        self._db = database
        self._providers = dict(providers)
        self._courses = courses
        self._relay = relay
        self._completion_wait = settings.service_timeout_seconds
        self._live = live

    # ------------------------------------------------------------------ providers
    def provider(self, name: str) -> PaymentProvider:
        adapter = self._providers.get(ProviderName(name))
        if adapter is None:
            raise BadUserInput(f"The {name} provider is not configured.", field="provider")
        return adapter

    def adapter(self, name: ProviderName) -> PaymentProvider | None:
        """The configured adapter, or None (a payment of a provider turned off since)."""
        return self._providers.get(name)

    def checkout_details(self, payment: Payment) -> CheckoutDetails | None:
        """What the client needs to pay; none once the payment is settled."""
        if payment.status != PaymentStatus.PENDING or payment.provider_ref is None:
            return None
        adapter = self._providers.get(ProviderName(payment.provider))
        if adapter is None:
            return None
        return adapter.checkout_details(payment.provider_ref, payment.client_secret)

    # ------------------------------------------------------------------ reads
    async def get_many(self, ids: Sequence[str]) -> list[Payment | None]:
        return await load_by_key(self._db, _PAYMENTS, Payment.id, ids)

    async def for_users(self, user_ids: Sequence[str]) -> list[list[Payment]]:
        return await load_by_key(self._db, _NEWEST_FIRST, Payment.user_id, user_ids, many=True)

    async def refunds_for(self, payment_ids: Sequence[str]) -> list[list[Refund]]:
        return await load_by_key(
            self._db, _REFUNDS_OLDEST_FIRST, Refund.payment_id, payment_ids, many=True
        )

    async def get_for_viewer(self, viewer: Viewer, payment_id: str) -> Payment:
        """The viewer's own payment (ADMIN: any). Others' look exactly like missing ones."""
        payment = (await self.get_many([payment_id]))[0]
        if payment is None or not owns_payments_of(viewer, payment.user_id):
            raise NotFound("No payment with this id.")
        return payment

    async def watch(self, viewer: Viewer, payment_id: str) -> AsyncIterator[Payment]:
        """`paymentUpdated`: refused (NOT_FOUND, as `payment`) before anything streams;
        then the payment now and after each of its status changes, re-read each time."""
        payment = await self.get_for_viewer(viewer, payment_id)

        async def load() -> Payment:
            found = (await self.get_many([str(payment.id)]))[0]
            if found is None:
                raise NotFound("No payment with this id.")
            return found

        return watch_state(self._live, str(payment.id), load, _client_view)

    def check_page_size(self, first: int) -> None:
        if not 1 <= first <= MAX_PAYMENTS_LISTED:
            raise BadUserInput(
                f"`first` must be between 1 and {MAX_PAYMENTS_LISTED}.", field="first"
            )

    # ------------------------------------------------------------------ checkout
    async def create_payment(self, viewer: Viewer, course_id: str, provider: str) -> Payment:
        """The public path: payments asks courses for the price and the viewer's seat."""
        adapter = self.provider(provider)
        pricing = await self._courses.course_pricing(course_id)
        if pricing is None:
            raise NotFound("No course with this id.", field="courseId")
        if pricing.status != OPEN_FOR_ENROLLMENT:
            raise Conflict("This course is not open for enrollment.")
        if pricing.is_free or pricing.price_minor is None or pricing.currency is None:
            raise Conflict("This course is free: enroll without paying.")
        progress = await self._courses.viewer_progress(viewer.id, course_id)
        order = Order(
            title=pricing.title,
            price_minor=pricing.price_minor,
            currency=pricing.currency,
            viewer_enrolled=progress.status in SEAT_STATUSES,
        )
        return await self._checkout(viewer.id, course_id, adapter, order)

    async def prepare_payment(
        self, user_id: str, course_id: str, provider: str, order: Order
    ) -> Payment:
        """Courses' `enroll(provider:)`: courses is the authority on price and seat and
        sends both in its signed call, so payments calls nobody back."""
        if order.price_minor <= 0:
            raise BadUserInput("A paid course has a positive price.", field="priceAmountMinor")
        return await self._checkout(user_id, course_id, self.provider(provider), order)

    async def _checkout(
        self, user_id: str, course_id: str, adapter: PaymentProvider, order: Order
    ) -> Payment:
        """Create or reuse the user's PENDING payment for this course and provider."""
        require_uuid(user_id, "userId")
        if order.viewer_enrolled:
            raise Conflict("You are already enrolled in this course.")
        # The price is courses' word, in minor units; the client never names an amount.
        currency = normalise_currency(order.currency)
        payment = await self._pending_payment(
            uuid.UUID(user_id), course_id, adapter.name, order.price_minor, currency
        )
        if payment.provider_ref is None:
            payment = await self._open_checkout(payment, adapter, order.title)
        return payment

    async def _pending_payment(
        self, user_id: uuid.UUID, course_id: str, provider: str, amount_minor: int, currency: str
    ) -> Payment:
        payment, superseded = await self._reuse_or_create(
            user_id, course_id, provider, amount_minor, currency
        )
        self._relay.wake()  # a superseded payment's `payment.canceled`, if any
        if superseded is not None:
            # I5: a superseded checkout is closed at the provider, after our commit; if
            # it was paid meanwhile (or cannot be closed) the late charge is refunded (I1).
            await self._close_checkout(provider, superseded)
        return payment

    async def _close_checkout(self, provider: str, provider_ref: str) -> bool:
        adapter = self.adapter(ProviderName(provider))
        if adapter is None:
            return False
        try:
            return await adapter.cancel_checkout(provider_ref)
        except ProviderUnavailable as error:
            log.warning("checkout not closed", provider_ref=provider_ref, error=str(error))
            return False

    async def _reuse_or_create(
        self,
        user_id: uuid.UUID,
        course_id: str,
        provider: str,
        amount_minor: int,
        currency: str,
    ) -> tuple[Payment, str | None]:
        """The PENDING payment, and the checkout it superseded (committed), if any."""
        now = datetime.now(UTC)
        for _ in range(3):
            try:
                async with self._db.transaction() as session:
                    superseded: str | None = None
                    existing = await session.scalar(
                        select(Payment)
                        .where(
                            Payment.user_id == user_id,
                            Payment.course_id == course_id,
                            Payment.provider == provider,
                            Payment.status == PaymentStatus.PENDING,
                        )
                        .with_for_update()
                    )
                    if existing is not None:
                        expired = (
                            existing.checkout_expires_at is not None
                            and existing.checkout_expires_at <= now
                        )
                        same_price = (existing.amount_minor, existing.currency) == (
                            amount_minor,
                            currency,
                        )
                        if same_price and not expired:
                            return existing, None
                        # The price changed or the checkout lapsed: start afresh.
                        existing.status = PaymentStatus.CANCELED
                        existing.closed_reason = ClosedReason.SUPERSEDED
                        await self._announce(session, existing)
                        await session.flush()
                        superseded = existing.provider_ref
                    payment = Payment(
                        id=uuid.uuid4(),
                        user_id=user_id,
                        course_id=course_id,
                        provider=provider,
                        status=PaymentStatus.PENDING,
                        amount_minor=amount_minor,
                        currency=currency,
                        refunded_minor=0,
                    )
                    session.add(payment)
                    await session.flush()
                    await session.refresh(payment)
                    return payment, superseded
            except IntegrityError as error:
                # A concurrent request inserted the PENDING row first: reuse it.
                if not is_unique_violation(error, "uq_payments_one_pending"):
                    raise
        raise Conflict("The payment is being created by another request; try again.")

    async def _open_checkout(
        self, payment: Payment, adapter: PaymentProvider, description: str
    ) -> Payment:
        request = CheckoutRequest(
            payment_id=str(payment.id),
            user_id=str(payment.user_id),
            course_id=payment.course_id,
            description=description[:200],
            amount_minor=payment.amount_minor,
            currency=payment.currency,
            # Stable per payment: a retried create returns the provider's first object.
            idempotency_key=f"payment-{payment.id}",
        )
        try:
            created = await adapter.create_checkout(request)
        except ProviderUnavailable as error:
            log.warning("checkout not created", payment_id=str(payment.id), error=str(error))
            raise ServiceUnavailable(PROVIDER_UNAVAILABLE) from None
        except ProviderDeclined as error:
            raise PaymentFailed(str(error)) from None
        async with self._db.transaction() as session:
            await session.execute(
                update(Payment)
                .where(Payment.id == payment.id, Payment.provider_ref.is_(None))
                .values(
                    provider_ref=created.provider_ref,
                    client_secret=created.client_secret,
                    checkout_expires_at=created.expires_at,
                )
            )
            fresh = await session.get(Payment, payment.id, populate_existing=True)
        assert fresh is not None
        return fresh

    # ------------------------------------------------------------------ verification
    async def verify_payment(
        self, viewer: Viewer, payment_id: str, gateway_payment_id: str, signature: str | None
    ) -> Payment:
        payment = await self.get_for_viewer(viewer, payment_id)
        if payment.status in SETTLED:
            if payment.status == PaymentStatus.SUCCEEDED:
                await self._await_completion(payment.id)
            return payment
        if payment.provider_ref is None:
            raise Conflict("This payment has no checkout yet; call createPayment again.")
        adapter = self.provider(payment.provider)
        try:
            charge = await adapter.fetch_charge(
                payment.provider_ref, gateway_payment_id.strip(), signature
            )
        except InvalidVerification as error:
            raise PaymentFailed(f"The payment could not be verified: {error}") from None
        except ProviderUnavailable:
            raise ServiceUnavailable(PROVIDER_UNAVAILABLE) from None
        except ProviderDeclined as error:
            raise PaymentFailed(str(error)) from None
        async with self._db.transaction() as session:
            locked = await lock_payment(session, payment.id)
            changed = self.apply_charge(locked, charge)
            if changed:
                await self._announce(session, locked)
        if locked.status == PaymentStatus.SUCCEEDED:
            await self._await_completion(locked.id)
        if locked.status == PaymentStatus.FAILED:
            raise PaymentFailed(locked.failure_reason or "The payment was declined.")
        return locked

    async def record_charge(self, payment_id: uuid.UUID, charge: ChargeStatus) -> bool:
        """A charge the provider reports that we missed (the reconciler's repair)."""
        async with self._db.transaction() as session:
            locked = await lock_payment(session, payment_id)
            changed = self.apply_charge(locked, charge)
            if changed:
                await self._announce(session, locked)
        self._relay.wake()
        return changed

    @staticmethod
    def apply_charge(payment: Payment, charge: ChargeStatus) -> bool:
        """The state machine, without I/O; True when the payment changed. Caller holds the
        row lock."""
        if charge.state is ChargeState.SUCCEEDED:
            if payment.status in SETTLED:
                return False
            if (charge.amount_minor, charge.currency) != (payment.amount_minor, payment.currency):
                # Signed by the provider yet not what we asked for: never grant access.
                log.error(
                    "provider reports another amount; payment left unchanged",
                    payment_id=str(payment.id),
                    expected=[payment.amount_minor, payment.currency],
                    reported=[charge.amount_minor, charge.currency],
                )
                raise PaymentFailed("The amount paid does not match the course price.")
            # FAILED or CANCELED can still become SUCCEEDED: the money has moved. A charge
            # of a closed (superseded or canceled) checkout is refunded in full (I1).
            if payment.status == PaymentStatus.CANCELED and payment.closed_reason is None:
                payment.closed_reason = ClosedReason.CANCELED
            payment.status = PaymentStatus.SUCCEEDED
            payment.succeeded_at = datetime.now(UTC)
            payment.gateway_payment_id = charge.gateway_payment_id
            payment.failure_reason = None
            return True
        if charge.state is ChargeState.FAILED and payment.status == PaymentStatus.PENDING:
            payment.status = PaymentStatus.FAILED
            payment.failure_reason = charge.failure_reason or "The payment was declined."
            if charge.gateway_payment_id:
                payment.gateway_payment_id = charge.gateway_payment_id
            return True
        if charge.state is ChargeState.CANCELED and payment.status == PaymentStatus.PENDING:
            payment.status = PaymentStatus.CANCELED
            payment.closed_reason = ClosedReason.CANCELED
            return True
        return False

    async def _announce(self, session: AsyncSession, payment: Payment) -> None:
        """The event of the status the payment was just given (under its lock)."""
        if payment.status == PaymentStatus.CANCELED:
            canceled = PaymentCanceled(
                paymentId=str(payment.id),
                userId=str(payment.user_id),
                courseId=payment.course_id,
                amountMinor=payment.amount_minor,
                currency=payment.currency,
                provider=payment.provider,
                reason=payment.closed_reason or ClosedReason.CANCELED,
            )
            await outbox.add(
                session, outbox_table, canceled, dedupe_key=f"payment:{payment.id}:canceled"
            )
            return
        if payment.status == PaymentStatus.FAILED:
            failed = PaymentFailedEvent(
                paymentId=str(payment.id),
                userId=str(payment.user_id),
                courseId=payment.course_id,
                amountMinor=payment.amount_minor,
                currency=payment.currency,
                provider=payment.provider,
                reason=payment.failure_reason or "The payment was declined.",
            )
            # A FAILED payment may still succeed later, but it fails once.
            await outbox.add(
                session, outbox_table, failed, dedupe_key=f"payment:{payment.id}:failed"
            )
            return
        if payment.status != PaymentStatus.SUCCEEDED:
            return
        if payment.closed_reason is not None:
            # Closed before it was paid: no seat, the whole charge goes back (I1).
            await outbox.add(
                session,
                outbox_table,
                PaymentUnkept(paymentId=str(payment.id)),
                dedupe_key=f"payment:{payment.id}:unkept",
            )
            return
        succeeded = PaymentSucceeded(
            paymentId=str(payment.id),
            userId=str(payment.user_id),
            courseId=payment.course_id,
            amountMinor=payment.amount_minor,
            currency=payment.currency,
            provider=payment.provider,
        )
        # One completion per payment, however many verifications and webhooks say so.
        await outbox.add(
            session, outbox_table, succeeded, dedupe_key=f"payment:{payment.id}:succeeded"
        )

    async def _await_completion(self, payment_id: uuid.UUID) -> None:
        """Deliver the enrollment completion now, or wait while another relay (a webhook's)
        delivers it, so `verifyPayment`'s answer already shows the enrollment. If courses
        fails, the relay retries later: that is not the caller's error, so stop waiting."""
        t = outbox_table.c
        deadline = time.monotonic() + self._completion_wait
        while True:
            try:
                await self._relay.deliver_due()
            except Exception:
                log.warning("immediate outbox delivery failed; the relay retries", exc_info=True)
                self._relay.wake()
                return
            async with self._db.read() as session:
                row = (
                    await session.execute(
                        select(
                            t.delivered_at, (t.next_attempt_at > func.now()).label("later")
                        ).where(t.dedupe_key == f"payment:{payment_id}:succeeded")
                    )
                ).one_or_none()
            if row is None or row.delivered_at is not None or row.later:
                return
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(0.05)

    # ------------------------------------------------------------------ webhooks
    async def handle_webhook(self, provider: ProviderName, event: ProviderEvent) -> str:
        """Apply a verified provider event once; returns what happened (for the log)."""
        async with self._db.transaction() as session:
            recorded = await session.scalar(
                insert(WebhookEvent)
                .values(
                    provider=provider.value, event_id=event.event_id, event_type=event.event_type
                )
                .on_conflict_do_nothing(
                    index_elements=[WebhookEvent.provider, WebhookEvent.event_id]
                )
                .returning(WebhookEvent.event_id)
            )
            if recorded is None:
                return "duplicate"
            if event.kind is WebhookKind.IGNORED:
                return "ignored"
            payment = await self._payment_for_event(session, provider, event)
            if payment is None:
                log.warning(
                    "webhook for an unknown payment",
                    provider=provider.value,
                    event_id=event.event_id,
                    provider_ref=event.provider_ref,
                )
                return "unknown payment"
            await session.execute(
                update(WebhookEvent)
                .where(
                    WebhookEvent.provider == provider.value,
                    WebhookEvent.event_id == event.event_id,
                )
                .values(payment_id=payment.id)
            )
            if event.kind is WebhookKind.REFUND_SUCCEEDED:
                await apply_provider_refund(session, payment, event)
                outcome = "refund recorded"
            else:
                charge = ChargeStatus(
                    state=ChargeState.SUCCEEDED
                    if event.kind is WebhookKind.PAYMENT_SUCCEEDED
                    else ChargeState.FAILED,
                    gateway_payment_id=event.gateway_payment_id,
                    amount_minor=event.amount_minor,
                    currency=event.currency,
                    failure_reason=event.failure_reason,
                )
                try:
                    changed = self.apply_charge(payment, charge)
                except PaymentFailed:
                    return "amount mismatch"
                if changed:
                    await self._announce(session, payment)
                outcome = f"payment {payment.status.lower()}" if changed else "no change"
        self._relay.wake()
        return outcome

    async def _payment_for_event(
        self, session: AsyncSession, provider: ProviderName, event: ProviderEvent
    ) -> Payment | None:
        """The one payment the event names, locked; none when the checkout object and the
        charge it names belong to different payments (each is unique per provider)."""
        by_ref = by_charge = None
        if event.provider_ref:
            by_ref = await session.scalar(
                select(Payment)
                .where(
                    Payment.provider == provider.value, Payment.provider_ref == event.provider_ref
                )
                .with_for_update()
            )
        if event.gateway_payment_id:
            by_charge = await session.scalar(
                select(Payment)
                .where(
                    Payment.provider == provider.value,
                    Payment.gateway_payment_id == event.gateway_payment_id,
                )
                .with_for_update()
            )
        if by_ref is not None and by_charge is not None and by_ref.id != by_charge.id:
            log.error(
                "webhook names two payments; ignored",
                provider=provider.value,
                event_id=event.event_id,
                by_ref=str(by_ref.id),
                by_charge=str(by_charge.id),
            )
            return None
        return by_ref or by_charge
