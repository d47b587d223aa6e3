"""Payments' calls to courses: internal fields, HMAC-signed as `payments`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from coursegraph.http import GraphQLServiceClient, signed_client
from coursegraph.settings import Settings

# Values of courses' SDL enums that payments acts on (it imports no courses code): the
# enrollment statuses that hold a seat, and the course status open for checkout.
SEAT_STATUSES = ("ACTIVE", "COMPLETED")
OPEN_FOR_ENROLLMENT = "PUBLISHED"

COURSE_PRICING = """
query CoursePricing($courseId: ID!) {
  coursePricing(courseId: $courseId) {
    courseId title status teacherId priceAmountMinor currency
  }
}"""

VIEWER_PROGRESS = """
query ViewerProgress($userId: ID!, $courseId: ID!) {
  viewerProgress(userId: $userId, courseId: $courseId) {
    enrolled status progressPercentage certificateIssued
  }
}"""

PAID_SEAT = "id status frozen progressPercentage certificateIssued certificateValid paymentId"

ENROLLMENTS_FOR_PAYMENTS = f"""
query EnrollmentsForPayments($paymentIds: [ID!]!) {{
  enrollmentsForPayments(paymentIds: $paymentIds) {{ {PAID_SEAT} }}
}}"""

COMPLETE_PAID_ENROLLMENT = f"""
mutation CompletePaidEnrollment($userId: ID!, $courseId: ID!, $paymentId: ID!) {{
  completePaidEnrollment(userId: $userId, courseId: $courseId, paymentId: $paymentId) {{
    {PAID_SEAT}
  }}
}}"""

FREEZE_ENROLLMENT_FOR_PAYMENT = f"""
mutation FreezeEnrollmentForPayment(
  $userId: ID!, $courseId: ID!, $paymentId: ID!, $allowCertificate: Boolean!
) {{
  freezeEnrollmentForPayment(
    userId: $userId, courseId: $courseId, paymentId: $paymentId,
    allowCertificate: $allowCertificate
  ) {{ {PAID_SEAT} }}
}}"""

UNFREEZE_ENROLLMENT_FOR_PAYMENT = """
mutation UnfreezeEnrollmentForPayment($paymentId: ID!) {
  unfreezeEnrollmentForPayment(paymentId: $paymentId) { id status }
}"""

DROP_ENROLLMENT_FOR_PAYMENT = """
mutation DropEnrollmentForPayment($paymentId: ID!, $userId: ID, $courseId: ID) {
  dropEnrollmentForPayment(paymentId: $paymentId, userId: $userId, courseId: $courseId) {
    id status
  }
}"""


@dataclass(frozen=True, slots=True)
class CoursePricing:
    course_id: str
    title: str
    status: str
    teacher_id: str | None
    price_minor: int | None
    currency: str | None

    @property
    def is_free(self) -> bool:
        return not self.price_minor or not self.currency


@dataclass(frozen=True, slots=True)
class Progress:
    enrolled: bool
    status: str | None
    # Decimal from the JSON number's text, so refund arithmetic never touches a float.
    progress_percentage: Decimal
    certificate_issued: bool


@dataclass(frozen=True, slots=True)
class PaidEnrollment:
    id: str
    status: str
    progress_percentage: Decimal
    certificate_issued: bool
    frozen: bool
    # The payment holding the seat; null for a free seat.
    payment_id: str | None
    certificate_valid: bool = False
    frozen_at: datetime | None = None

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> PaidEnrollment:
        return cls(
            id=str(raw["id"]),
            status=str(raw["status"]),
            progress_percentage=_percentage(raw.get("progressPercentage")),
            certificate_issued=bool(raw.get("certificateIssued")),
            frozen=bool(raw.get("frozen")),
            payment_id=raw.get("paymentId"),
            certificate_valid=bool(raw.get("certificateValid")),
            frozen_at=datetime.fromisoformat(raw["frozenAt"]) if raw.get("frozenAt") else None,
        )

    @property
    def holds_seat(self) -> bool:
        return self.status in SEAT_STATUSES


def _percentage(value: object) -> Decimal:
    return Decimal(str(value if value is not None else 0))


class CoursesClient:
    def __init__(self, graphql: GraphQLServiceClient) -> None:
        self._graphql = graphql

    @classmethod
    def from_settings(cls, settings: Settings) -> CoursesClient:
        client = signed_client(settings, "payments", settings.service_url("courses"))
        return cls(GraphQLServiceClient(client, "courses"))

    async def course_pricing(self, course_id: str) -> CoursePricing | None:
        data = await self._graphql.execute(COURSE_PRICING, {"courseId": course_id})
        raw = data.get("coursePricing")
        if raw is None:
            return None
        return CoursePricing(
            course_id=str(raw["courseId"]),
            title=str(raw["title"]),
            status=str(raw["status"]),
            teacher_id=raw.get("teacherId"),
            price_minor=raw.get("priceAmountMinor"),
            currency=raw.get("currency"),
        )

    async def viewer_progress(self, user_id: str, course_id: str) -> Progress:
        data = await self._graphql.execute(
            VIEWER_PROGRESS, {"userId": user_id, "courseId": course_id}
        )
        raw = data.get("viewerProgress") or {}
        return Progress(
            enrolled=bool(raw.get("enrolled")),
            status=raw.get("status"),
            progress_percentage=_percentage(raw.get("progressPercentage")),
            certificate_issued=bool(raw.get("certificateIssued")),
        )

    async def complete_paid_enrollment(
        self, user_id: str, course_id: str, payment_id: str
    ) -> PaidEnrollment:
        """The payment's seat, or the seat that holds the course instead (see courses)."""
        data = await self._graphql.execute(
            COMPLETE_PAID_ENROLLMENT,
            {"userId": user_id, "courseId": course_id, "paymentId": payment_id},
        )
        return PaidEnrollment.from_json(data["completePaidEnrollment"])

    async def freeze_enrollment_for_payment(
        self, user_id: str, course_id: str, payment_id: str, *, allow_certificate: bool
    ) -> PaidEnrollment:
        """The payment's seat, frozen by courses under its row lock (see courses)."""
        data = await self._graphql.execute(
            FREEZE_ENROLLMENT_FOR_PAYMENT,
            {
                "userId": user_id,
                "courseId": course_id,
                "paymentId": payment_id,
                "allowCertificate": allow_certificate,
            },
        )
        return PaidEnrollment.from_json(data["freezeEnrollmentForPayment"])

    async def enrollments_for_payments(
        self, payment_ids: list[str]
    ) -> dict[str, PaidEnrollment | None]:
        """The row each payment has in courses (None: none yet), by payment id."""
        data = await self._graphql.execute(ENROLLMENTS_FOR_PAYMENTS, {"paymentIds": payment_ids})
        rows = data["enrollmentsForPayments"]
        return {
            payment_id: PaidEnrollment.from_json(raw) if raw else None
            for payment_id, raw in zip(payment_ids, rows, strict=True)
        }

    async def unfreeze_enrollment_for_payment(self, payment_id: str) -> None:
        await self._graphql.execute(UNFREEZE_ENROLLMENT_FOR_PAYMENT, {"paymentId": payment_id})

    async def drop_enrollment_for_payment(
        self, payment_id: str, user_id: str | None = None, course_id: str | None = None
    ) -> None:
        await self._graphql.execute(
            DROP_ENROLLMENT_FOR_PAYMENT,
            {"paymentId": payment_id, "userId": user_id, "courseId": course_id},
        )

    async def aclose(self) -> None:
        await self._graphql.aclose()
