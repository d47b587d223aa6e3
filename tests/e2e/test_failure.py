"""A subgraph process stopped mid-test: the router answers partial data with
SERVICE_UNAVAILABLE errors, the stack recovers when it is back, and a payment made
meanwhile loses nothing (payments' outbox delivers the enrollment later).

Recovery is awaited through the router with its default traffic settings, circuit breaker
included, as a deployment has them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from tests.e2e.client import Api, eventually
from tests.e2e.scenario import published_course, settle_sandbox, upload_lecture_video
from tests.e2e.stack import Service, Stack
from tests.helpers import GraphQLResult

MIXED = """
query Mixed($slug: String!) {
  me { id name }
  course(slug: $slug) { title }
}
"""
# The checkout screen's VerifyPayment selects `course { title }`, non-null all the way up,
# so with courses down its whole answer is null; this selection shows what payments did.
VERIFY = """
mutation Verify($input: VerifyPaymentInput!) {
  verifyPayment(input: $input) { id status succeededAt enrollment { id status } }
}
"""


def _unavailable(result: GraphQLResult, service: str) -> None:
    """Only SERVICE_UNAVAILABLE from `service`: the nulls the outage causes are explained
    by it, and every error carries a contract code."""
    assert result.status == 200
    assert result.errors, result.data
    for error in result.errors:
        assert error.get("extensions", {}).get("code") == "SERVICE_UNAVAILABLE", result.errors
        assert error["extensions"]["serviceName"] == service, result.errors


@dataclass
class Outage:
    """A stopped subgraph, and a request through the router that needs it."""

    service: Service
    probe: Callable[[], Awaitable[GraphQLResult]]

    def begin(self) -> None:
        self.service.stop()

    async def end(self) -> GraphQLResult:
        """Start the subgraph again and wait until the router serves it: after repeated
        failures the router's circuit breaker refuses calls for a cool-down, then lets
        one probe through."""
        if not self.service.healthy():
            await asyncio.to_thread(self.service.restart)
        return await eventually(self.probe, lambda result: not result.errors, within=40)


@pytest.fixture
async def outages() -> AsyncIterator[list[Outage]]:
    """Whatever a test stops is served again afterwards, even when the test fails, so the
    tests after it meet a whole stack."""
    begun: list[Outage] = []
    yield begun
    for outage in begun:
        await outage.end()


async def test_files_down_gives_partial_data_then_recovers(
    api: Api, stack: Stack, outages: list[Outage]
) -> None:
    teacher = await api.sign_up("TEACHER")
    course = await published_course(api, teacher)
    lecture_id = course.lecture_ids[0]
    await upload_lecture_video(api, teacher, lecture_id, seconds=3.0)
    student = await api.sign_up()
    await api.data("Enroll", {"courseId": course.id}, token=student.token)

    outage = Outage(
        stack.services["files"], lambda: api.op("Lecture", {"id": lecture_id}, token=student.token)
    )
    outages.append(outage)
    outage.begin()
    partial = await outage.probe()
    _unavailable(partial, "files")
    assert partial.data is not None
    lecture = partial.data["lecture"]
    # What courses owns is still there; only the video's details are missing.
    assert (lecture["title"], lecture["videoStatus"]) == ("Lecture 1", "READY")
    assert lecture["course"]["viewerEnrollment"]["status"] == "ACTIVE"
    assert lecture["video"] is None

    recovered = (await outage.end()).ok()["lecture"]
    assert recovered["video"]["status"] == "READY"
    assert recovered["video"]["playbackUrl"]


async def test_payment_while_courses_is_down_lands_when_it_is_back(
    api: Api, stack: Stack, outages: list[Outage]
) -> None:
    teacher = await api.sign_up("TEACHER")
    course = await published_course(api, teacher, price={"amount": "25.00", "currency": "USD"})
    student = await api.sign_up()
    payment = (
        await api.data(
            "CreatePayment", {"courseId": course.id, "provider": "SANDBOX"}, token=student.token
        )
    )["createPayment"]

    outage = Outage(stack.services["courses"], lambda: api.op("Catalog", {"first": 1}))
    outages.append(outage)
    outage.begin()
    catalog = await api.op("Catalog", {"first": 5})
    _unavailable(catalog, "courses")
    assert catalog.data is None  # `courses` is a non-null root field of courses'
    mixed = await api.run(MIXED, {"slug": course.slug}, token=student.token)
    _unavailable(mixed, "courses")
    assert mixed.data == {"me": {"id": student.id, "name": student.name}, "course": None}

    proof = await settle_sandbox(payment["checkout"])
    verified = await api.run(
        VERIFY, {"input": {"paymentId": payment["id"], **proof}}, token=student.token
    )
    # Payments settled and answered; only courses' field is missing.
    _unavailable(verified, "courses")
    assert verified.data is not None
    settled = verified.data["verifyPayment"]
    assert settled["status"] == "SUCCEEDED"
    assert settled["succeededAt"]
    assert settled["enrollment"] is None

    await outage.end()
    # The outbox retries with backoff (a few seconds after a short outage).
    landed = await eventually(
        lambda: api.op("Payment", {"id": payment["id"]}, token=student.token),
        _enrollment_active,
        within=40,
    )
    assert landed.ok()["payment"]["status"] == "SUCCEEDED"
    learning = (await api.data("MyLearning", token=student.token))["myEnrollments"]
    assert [(e["course"]["id"], e["status"]) for e in learning] == [(course.id, "ACTIVE")]


def _enrollment_active(result: GraphQLResult) -> bool:
    if result.errors or result.data is None:
        return False
    enrollment = result.data["payment"]["enrollment"]
    return enrollment is not None and enrollment["status"] == "ACTIVE"
