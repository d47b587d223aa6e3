"""A paid seat under refund: frozen under its row lock, progress and certificates
refused meanwhile, and every payment effect state-based (any order, any repeat)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from coursegraph.service_auth import ServiceSigner
from coursegraph.settings import Settings
from tests.courses.api import ISSUE_CERTIFICATE, People, Person, progress, published_course
from tests.helpers import gql

SEAT = "id status frozen progressPercentage certificateIssued"
COMPLETE = f"""
mutation($u: ID!, $c: ID!, $p: ID!) {{
  completePaidEnrollment(userId: $u, courseId: $c, paymentId: $p) {{ {SEAT} }}
}}"""
FREEZE = f"""
mutation($u: ID!, $c: ID!, $p: ID!, $admin: Boolean!) {{
  freezeEnrollmentForPayment(userId: $u, courseId: $c, paymentId: $p, allowCertificate: $admin)
  {{ {SEAT} }}
}}"""
UNFREEZE = f"mutation($p: ID!) {{ unfreezeEnrollmentForPayment(paymentId: $p) {{ {SEAT} }} }}"
DROP = f"""
mutation($p: ID!, $u: ID, $c: ID) {{
  dropEnrollmentForPayment(paymentId: $p, userId: $u, courseId: $c) {{ {SEAT} }}
}}"""
VERIFY = "query($code: String!) { verifyCertificate(code: $code) { id valid revokedAt } }"
MINE = "{ myEnrollments { id status progressPercentage certificate { id } payment { id } } }"
PAID = {"amount": "20.00", "currency": "USD"}


@pytest.fixture
def payments(courses_settings: Settings) -> ServiceSigner:
    return ServiceSigner("payments", courses_settings.service_key("payments"))


class Seat:
    """One student's paid seat, driven through courses' internal fields."""

    def __init__(self, url: str, signer: ServiceSigner, student: Person, course_id: str) -> None:
        self.url, self.signer, self.student, self.course_id = url, signer, student, course_id
        self.payment_id = f"pay_{uuid.uuid4().hex[:12]}"

    def _vars(self, **extra: Any) -> dict[str, Any]:
        return {"u": self.student.id, "c": self.course_id, "p": self.payment_id, **extra}

    async def call(self, query: str, field: str, **extra: Any) -> dict[str, Any]:
        result = await gql(self.url, query, self._vars(**extra), signer=self.signer)
        data: dict[str, Any] = result.ok()[field]
        return data

    async def complete(self) -> dict[str, Any]:
        return await self.call(COMPLETE, "completePaidEnrollment")

    async def freeze(self, admin: bool = False) -> dict[str, Any]:
        return await self.call(FREEZE, "freezeEnrollmentForPayment", admin=admin)

    async def drop(self) -> dict[str, Any]:
        return await self.call(DROP, "dropEnrollmentForPayment")

    async def mine(self) -> list[dict[str, Any]]:
        result = await gql(self.url, MINE, token=self.student.token)
        rows: list[dict[str, Any]] = result.ok()["myEnrollments"]
        return rows


async def _seat(url: str, people: People, signer: ServiceSigner, *, real: bool = False) -> Seat:
    course = await published_course(url, people.make("TEACHER"), price=PAID)
    student = await people.register() if real else people.make()
    return Seat(url, signer, student, course["id"])


async def test_a_frozen_seat_refuses_progress_and_certificates_until_unfrozen(
    courses_url: str, people: People, payments: ServiceSigner
) -> None:
    seat = await _seat(courses_url, people, payments, real=True)
    enrollment = await seat.complete()
    (await progress(courses_url, seat.student, seat.course_id, 40)).ok()

    frozen = await seat.freeze()
    assert (frozen["frozen"], frozen["progressPercentage"]) == (True, 40.0)
    refused = await progress(courses_url, seat.student, seat.course_id, 100)
    assert refused.code == "CONFLICT"
    assert "refund" in refused.errors[0]["message"]
    certificate = await gql(
        courses_url, ISSUE_CERTIFICATE, {"id": enrollment["id"]}, token=seat.student.token
    )
    assert certificate.code == "CONFLICT"
    # Freezing again answers the same snapshot.
    assert await seat.freeze() == frozen

    thawed = await seat.call(UNFREEZE, "unfreezeEnrollmentForPayment")
    assert thawed["frozen"] is False
    done = (await progress(courses_url, seat.student, seat.course_id, 100)).ok()
    assert done["updateProgress"]["status"] == "COMPLETED"


async def test_freeze_racing_progress_and_certificate_never_prices_a_stale_seat(
    courses_url: str, people: People, payments: ServiceSigner
) -> None:
    """Case 1 of issue 12, at courses: the refund's snapshot is the seat's last state."""
    for delay in (0.0, 0.005, 0.01, 0.02, 0.04):
        seat = await _seat(courses_url, people, payments, real=True)
        enrollment = await seat.complete()

        async def finish_course(seat: Seat = seat, enrollment_id: str = enrollment["id"]) -> None:
            await progress(courses_url, seat.student, seat.course_id, 100)
            await gql(
                courses_url, ISSUE_CERTIFICATE, {"id": enrollment_id}, token=seat.student.token
            )

        async def freeze_later(seat: Seat = seat, delay: float = delay) -> dict[str, Any]:
            await asyncio.sleep(delay)
            return await seat.freeze()

        snapshot, _ = await asyncio.gather(freeze_later(), finish_course())
        [row] = await seat.mine()
        if snapshot["frozen"]:
            # Nothing happened to the seat after the snapshot the refund is priced from.
            assert row["progressPercentage"] == snapshot["progressPercentage"]
            assert row["certificate"] is None
        else:
            assert snapshot["certificateIssued"] is True
            assert row["certificate"] is not None


async def test_an_admin_refund_after_a_certificate_revokes_it(
    courses_url: str, people: People, payments: ServiceSigner
) -> None:
    seat = await _seat(courses_url, people, payments, real=True)
    enrollment = await seat.complete()
    (await progress(courses_url, seat.student, seat.course_id, 100)).ok()
    issued = await gql(
        courses_url, ISSUE_CERTIFICATE, {"id": enrollment["id"]}, token=seat.student.token
    )
    code = issued.ok()["issueCertificate"]["code"]

    student_refund = await seat.freeze(admin=False)
    assert (student_refund["frozen"], student_refund["certificateIssued"]) == (False, True)
    admin_refund = await seat.freeze(admin=True)
    assert admin_refund["frozen"] is True

    dropped = await seat.drop()
    assert (dropped["status"], dropped["frozen"]) == ("DROPPED", False)
    assert await seat.drop() == dropped
    verified = (await gql(courses_url, VERIFY, {"code": code})).ok()["verifyCertificate"]
    assert verified["valid"] is False
    assert verified["revokedAt"]


async def test_a_late_completion_creates_no_seat_after_freeze_or_drop(
    courses_url: str, people: People, payments: ServiceSigner
) -> None:
    """Case 2 of issue 12, at courses: effects about one payment in any order."""
    # The refund freezes before the completion arrived: a frozen seat is made for it.
    seat = await _seat(courses_url, people, payments)
    frozen = await seat.freeze()
    assert (frozen["status"], frozen["frozen"], frozen["progressPercentage"]) == (
        "ACTIVE",
        True,
        0.0,
    )
    assert (await seat.complete())["id"] == frozen["id"]
    await seat.drop()
    late = await asyncio.gather(*(seat.complete() for _ in range(3)))
    assert {c["status"] for c in late} == {"DROPPED"}

    # The drop arrives before the completion: a DROPPED row waits for it.
    seat = await _seat(courses_url, people, payments)
    tombstone = await seat.drop()
    assert tombstone["status"] == "DROPPED"
    assert (await seat.complete())["status"] == "DROPPED"
    assert [row["status"] for row in await seat.mine()] == ["DROPPED"]


async def test_a_payment_for_a_seat_already_held_freezes_nothing(
    courses_url: str, people: People, payments: ServiceSigner
) -> None:
    seat = await _seat(courses_url, people, payments)
    held = await seat.complete()
    other = Seat(courses_url, payments, seat.student, seat.course_id)
    snapshot = await other.freeze()
    assert (snapshot["status"], snapshot["frozen"]) == ("DROPPED", False)
    # The seat the first payment holds is untouched, and the second never gets one.
    assert (await other.complete())["status"] == "DROPPED"
    rows = {row["payment"]["id"]: row["status"] for row in await seat.mine()}
    assert rows == {seat.payment_id: "ACTIVE", other.payment_id: "DROPPED"}
    assert held["frozen"] is False
