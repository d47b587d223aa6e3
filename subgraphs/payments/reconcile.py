"""The reconciler: compares payments, refunds, outbox rows, courses' seats and
certificates, and the providers' own records against the invariants (README, Payments),
repairs what is safe to repair and reports the rest.

Every repair is one the services already make idempotently (refund a charge in full,
drop or freeze a seat, re-deliver an outbox row, record a charge the provider reports),
so two reconcilers, or a reconciler racing the relay, change nothing twice. Rows younger
than the grace period are left alone: their effects may still be on the way.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import select, update

from coursegraph.db import Database
from coursegraph.errors import DomainError
from coursegraph.log import get_logger
from coursegraph.outbox import OutboxRelay
from subgraphs.payments.clients import CoursesClient, PaidEnrollment
from subgraphs.payments.models import (
    SETTLED,
    ClosedReason,
    Payment,
    PaymentStatus,
    ProviderName,
    Refund,
    RefundStatus,
)
from subgraphs.payments.models import outbox as outbox_table
from subgraphs.payments.providers.base import ChargeState, ProviderUnavailable
from subgraphs.payments.refunds import RefundService
from subgraphs.payments.service import PaymentService

log = get_logger("coursegraph.payments.reconcile")

# What each violation means, and the repair (if any) the reconciler makes.
KINDS = {
    "kept_charge_without_seat": "I1: a SUCCEEDED charge holds no seat (repair: complete it "
    "again, or refund it in full when another seat holds the course)",
    "closed_charge_kept": "I1: a charge of a closed checkout is not refunded (repair: refund)",
    "refunded_payment_holds_seat": "I2: a refunded payment leaves a seat (repair: drop it)",
    "refunded_payment_valid_certificate": "I2: a refunded payment leaves a valid certificate "
    "(repair: drop the seat, which revokes it)",
    "refund_pending_seat_not_frozen": "I2: a refund is under way on a seat that is not "
    "frozen (repair: freeze it)",
    "frozen_seat_without_refund": "I2: a seat stays frozen with no refund under way "
    "(repair: unfreeze it)",
    "seat_without_charge": "a seat is held for a payment that never settled (reported: "
    "taking access away is a person's decision)",
    "refund_stuck": "a refund waits for the provider's answer (repair: ask again)",
    "effect_undelivered": "I4: an outbox effect is not delivered (repair: deliver it now)",
    "seats_not_checked": "courses could not be reached: seats were not compared (reported)",
    "charge_missed": "the provider holds a charge we do not (repair: record it; I1 follows)",
    "charge_missing_at_provider": "we hold a charge the provider does not (reported)",
    "refund_mismatch_at_provider": "the provider refunded another amount (reported)",
}
COURSES_BATCH = 200


@dataclass(frozen=True, slots=True)
class Violation:
    kind: str
    payment_id: str | None
    detail: str
    repaired: bool = False

    def line(self) -> str:
        state = "repaired" if self.repaired else "open"
        return f"{self.kind:<36} {self.payment_id or '-':<36} {state:<8} {self.detail}"


class ReconcileMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.found = Counter(
            "coursegraph_payments_reconcile_violations",
            "Violations the reconciler found, by kind.",
            ["kind"],
            registry=registry,
        )
        self.repaired = Counter(
            "coursegraph_payments_reconcile_repairs",
            "Violations the reconciler repaired, by kind.",
            ["kind"],
            registry=registry,
        )
        self.open = Gauge(
            "coursegraph_payments_reconcile_open_violations",
            "Violations left open by the last run.",
            registry=registry,
        )
        self.runs = Counter(
            "coursegraph_payments_reconcile_runs", "Reconciler runs.", registry=registry
        )


class Reconciler:
    def __init__(
        self,
        database: Database,
        payments: PaymentService,
        refunds: RefundService,
        courses: CoursesClient,
        relay: OutboxRelay,
        metrics: ReconcileMetrics,
        *,
        grace_seconds: float,
        window_days: int,
    ) -> None:
        self._db = database
        self._payments = payments
        self._refunds = refunds
        self._courses = courses
        self._relay = relay
        self._metrics = metrics
        self._grace = timedelta(seconds=grace_seconds)
        # Payments last changed before this are settled history (refund window passed):
        # a periodic pass skips them, so its cost (one provider call each) stays bounded.
        self._window = timedelta(days=window_days)

    async def run(
        self, *, repair: bool, grace_seconds: float | None = None, everything: bool = False
    ) -> list[Violation]:
        """One pass over the payments changed inside the window (`everything`: all) and
        before the grace period; `repair=False` changes nothing (`reconcile --check`)."""
        grace = self._grace if grace_seconds is None else timedelta(seconds=grace_seconds)
        now = datetime.now(UTC)
        cutoff = now - grace
        since = datetime.min.replace(tzinfo=UTC) if everything else now - self._window
        found: list[Violation] = []
        found += await self._outbox(cutoff, repair)
        async with self._db.read() as session:
            payments = list(
                await session.scalars(
                    select(Payment)
                    .where(Payment.updated_at <= cutoff, Payment.updated_at >= since)
                    .order_by(Payment.created_at)
                )
            )
            refunds: dict[uuid.UUID, list[Refund]] = defaultdict(list)
            scanned = select(Payment.id).where(
                Payment.updated_at <= cutoff, Payment.updated_at >= since
            )
            for refund in await session.scalars(
                select(Refund).where(Refund.payment_id.in_(scanned))
            ):
                refunds[refund.payment_id].append(refund)
        try:
            seats = await self._seats([str(p.id) for p in payments])
        except DomainError as error:
            # Without courses' side nothing about seats can be said: report, go on.
            seats = None
            found.append(Violation("seats_not_checked", None, error.message))
        for payment in payments:
            if seats is not None:
                live = next(
                    (r for r in refunds[payment.id] if r.status != RefundStatus.FAILED), None
                )
                seat = seats.get(str(payment.id))
                found += await self._payment(payment, live, seat, cutoff, repair)
            found += await self._provider(payment, repair)
        self._metrics.runs.inc()
        for violation in found:
            self._metrics.found.labels(violation.kind).inc()
            if violation.repaired:
                self._metrics.repaired.labels(violation.kind).inc()
        self._metrics.open.set(sum(not v.repaired for v in found))
        if repair:
            # Deliver what the repairs queued (completions, drops) before answering.
            await self._relay.deliver_due()
        return found

    async def _seats(self, payment_ids: list[str]) -> dict[str, PaidEnrollment | None]:
        seats: dict[str, PaidEnrollment | None] = {}
        for start in range(0, len(payment_ids), COURSES_BATCH):
            chunk = payment_ids[start : start + COURSES_BATCH]
            seats.update(await self._courses.enrollments_for_payments(chunk))
        return seats

    async def _outbox(self, cutoff: datetime, repair: bool) -> list[Violation]:
        t = outbox_table.c
        async with self._db.read() as session:
            rows = (
                await session.execute(
                    select(t.id, t.topic, t.payload, t.attempts, t.last_error).where(
                        t.delivered_at.is_(None), t.created_at <= cutoff
                    )
                )
            ).all()
        found = []
        for row in rows:
            detail = f"{row.topic} after {row.attempts} attempt(s): {row.last_error or 'not yet'}"
            found.append(
                Violation("effect_undelivered", row.payload.get("paymentId"), detail, repair)
            )
        if repair and rows:
            async with self._db.transaction() as session:
                await session.execute(
                    update(outbox_table)
                    .where(t.id.in_([row.id for row in rows]), t.delivered_at.is_(None))
                    .values(next_attempt_at=datetime.now(UTC))
                )
        return found

    async def _payment(
        self,
        payment: Payment,
        live: Refund | None,
        seat: PaidEnrollment | None,
        cutoff: datetime,
        repair: bool,
    ) -> list[Violation]:
        pid = str(payment.id)
        holds = seat is not None and seat.holds_seat and seat.payment_id == pid
        refunded = payment.status in (PaymentStatus.REFUNDED, PaymentStatus.PARTIALLY_REFUNDED)
        found: list[Violation] = []

        async def act(kind: str, detail: str, fix: Callable[[], Awaitable[object]]) -> None:
            done = False
            if repair:
                try:
                    await fix()
                    done = True
                except (DomainError, ProviderUnavailable) as error:
                    detail = f"{detail}; repair failed: {error}"
            found.append(Violation(kind, pid, detail, done))

        user, course = str(payment.user_id), payment.course_id
        if payment.status == PaymentStatus.SUCCEEDED and live is None:
            if payment.closed_reason is not None:
                await act(
                    "closed_charge_kept",
                    payment.closed_reason,
                    lambda: self._refunds.refund_unkept(pid, None),
                )
            elif not holds:
                if seat is None:
                    await act(
                        "kept_charge_without_seat",
                        "no seat in courses",
                        lambda: self._redeliver_completion(payment.id),
                    )
                else:
                    await act(
                        "kept_charge_without_seat",
                        f"courses holds {seat.status} for payment {seat.payment_id}",
                        lambda: self._refunds.refund_unkept(pid, ClosedReason.SEAT_HELD),
                    )
        if (
            payment.status in (PaymentStatus.PENDING, PaymentStatus.FAILED, PaymentStatus.CANCELED)
            and holds
        ):
            found.append(Violation("seat_without_charge", pid, f"payment {payment.status}"))
        if (refunded or (live is not None and live.status == RefundStatus.SUCCEEDED)) and holds:
            await act(
                "refunded_payment_holds_seat",
                f"seat {seat.status if seat else '-'}",
                lambda: self._courses.drop_enrollment_for_payment(pid, user, course),
            )
        elif refunded and seat is not None and seat.certificate_valid:
            await act(
                "refunded_payment_valid_certificate",
                f"seat {seat.status}",
                lambda: self._courses.drop_enrollment_for_payment(pid, user, course),
            )
        if live is not None and live.status == RefundStatus.PENDING:
            if holds and seat is not None and not seat.frozen:
                await act(
                    "refund_pending_seat_not_frozen",
                    f"refund {live.id}",
                    lambda: self._courses.freeze_enrollment_for_payment(
                        user, course, pid, allow_certificate=True
                    ),
                )
            if live.updated_at <= cutoff:
                stuck = live
                await act("refund_stuck", f"refund {live.id}", lambda: self._refunds.resume(stuck))
        if (
            payment.status == PaymentStatus.SUCCEEDED
            and live is None
            and holds
            and seat is not None
            and seat.frozen
            # A refund request between its freeze and its refund row is not stuck yet.
            and (seat.frozen_at is None or seat.frozen_at <= cutoff)
        ):
            await act(
                "frozen_seat_without_refund",
                "no refund under way",
                lambda: self._courses.unfreeze_enrollment_for_payment(pid),
            )
        return found

    async def _redeliver_completion(self, payment_id: uuid.UUID) -> None:
        t = outbox_table.c
        async with self._db.transaction() as session:
            await session.execute(
                update(outbox_table)
                .where(t.dedupe_key == f"payment:{payment_id}:succeeded")
                .values(delivered_at=None, next_attempt_at=datetime.now(UTC))
            )

    async def _provider(self, payment: Payment, repair: bool) -> list[Violation]:
        """The provider's own record of the checkout against ours."""
        if payment.provider_ref is None:
            return []
        adapter = self._payments.adapter(ProviderName(payment.provider))
        if adapter is None:
            return []
        pid = str(payment.id)
        try:
            charge = await adapter.lookup_charge(payment.provider_ref)
        except ProviderUnavailable as error:
            log.warning("provider not reachable for reconciliation", payment_id=pid)
            return [Violation("charge_missing_at_provider", pid, f"not checked: {error}")]
        settled = payment.status in SETTLED
        if charge.state is ChargeState.SUCCEEDED and not settled:
            repaired = False
            if repair:
                await self._payments.record_charge(payment.id, charge)
                repaired = True
            detail = (
                f"provider charged {charge.amount_minor} {charge.currency}; ours {payment.status}"
            )
            return [Violation("charge_missed", pid, detail, repaired)]
        if settled and charge.state is not ChargeState.SUCCEEDED:
            detail = f"provider says {charge.state.value}; ours {payment.status}"
            return [Violation("charge_missing_at_provider", pid, detail)]
        if (
            settled
            and charge.refunded_minor is not None
            and charge.refunded_minor != payment.refunded_minor
        ):
            detail = f"provider refunded {charge.refunded_minor}; ours {payment.refunded_minor}"
            return [Violation("refund_mismatch_at_provider", pid, detail)]
        return []
