"""Payments under test: the real subgraph over HTTP, users for the JWKS, and stand-ins
for courses, Stripe and Razorpay, each a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from coursegraph.identity import scope_claim
from coursegraph.service_auth import ServiceSigner
from coursegraph.settings import Settings
from coursegraph.testing import ServerThread
from subgraphs.courses.app import create_app as create_courses_app
from subgraphs.courses.settings import CoursesSettings
from subgraphs.payments.app import create_app as create_payments_app
from subgraphs.payments.settings import (
    PaymentsSettings,
    RazorpaySettings,
    ReconcileSettings,
    SandboxSettings,
    StripeSettings,
)
from subgraphs.users.app import create_app as create_users_app
from subgraphs.users.bootstrap import key_store
from subgraphs.users.keys import KeyStore
from subgraphs.users.settings import UsersSettings
from tests.helpers import GraphQLResult, gql, signer_for
from tests.payments.stubs import (
    FakeCourse,
    FakeCourses,
    LateApp,
    RazorpayStub,
    StripeStub,
    courses_verifier,
)

STRIPE_KEY = "sk_test_coursegraph"
STRIPE_WHSEC = "whsec_coursegraph_test"
RAZORPAY_KEY_ID = "rzp_test_coursegraph"
RAZORPAY_SECRET = "rzp_secret_coursegraph"
RAZORPAY_WHSEC = "rzp_webhook_coursegraph"
SANDBOX_SECRET = "sandbox-webhook-test-secret"

CREATE = """
mutation($input: CreatePaymentInput!) {
  createPayment(input: $input) {
    id status provider amount { amount currency } refundedAmount { amount currency }
    user { id } course { id }
    checkout { provider clientSecret orderId keyId sandboxUrl expiresAt }
  }
}"""
VERIFY = """
mutation($input: VerifyPaymentInput!) {
  verifyPayment(input: $input) { id status succeededAt checkout { provider } }
}"""
REFUND = """
mutation($paymentId: ID!, $reason: String, $amount: MoneyInput) {
  requestRefund(paymentId: $paymentId, reason: $reason, amount: $amount) {
    id status reason amount { amount currency }
  }
}"""
PAYMENT = """
query($id: ID!) {
  payment(id: $id) {
    id status amount { amount currency } refundedAmount { amount currency }
    refunds { id status amount { amount currency } }
  }
}"""


@dataclass
class Stack:
    url: str  # payments' base URL
    settings: Settings
    section: PaymentsSettings
    courses: FakeCourses
    stripe: StripeStub
    razorpay: RazorpayStub
    keys: KeyStore

    @property
    def graphql(self) -> str:
        return f"{self.url}/graphql"

    def token(self, user_id: str | None = None, role: str = "STUDENT") -> tuple[str, str]:
        """A signed access token (as users issues) for a new or given user id."""
        uid = user_id or str(uuid.uuid4())
        token = self.keys.sign(
            {"sub": uid, "role": role, "scope": scope_claim(role)},
            issuer=self.settings.jwt_issuer,
            audience=self.settings.jwt_audience,
            ttl_seconds=300,
        )
        return uid, token

    def course(self, **values: Any) -> FakeCourse:
        return self.courses.add_course(**values)

    async def create(self, token: str, course_id: str, provider: str) -> GraphQLResult:
        return await gql(
            self.graphql,
            CREATE,
            {"input": {"courseId": course_id, "provider": provider}},
            token=token,
        )

    async def verify(
        self, token: str, payment_id: str, gateway_id: str, signature: str | None = None
    ) -> GraphQLResult:
        data = {"paymentId": payment_id, "gatewayPaymentId": gateway_id, "signature": signature}
        return await gql(self.graphql, VERIFY, {"input": data}, token=token)

    async def refund(self, token: str, payment_id: str, **extra: Any) -> GraphQLResult:
        return await gql(self.graphql, REFUND, {"paymentId": payment_id, **extra}, token=token)

    async def payment(self, token: str, payment_id: str) -> GraphQLResult:
        return await gql(self.graphql, PAYMENT, {"id": payment_id}, token=token)

    async def webhook(self, provider: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.post(
                f"{self.url}/webhooks/{provider}",
                content=body,
                headers={"content-type": "application/json", **headers},
            )

    def signer(self, service: str) -> ServiceSigner:
        return signer_for(service, self.settings)


async def eventually(check: Callable[[], bool | Awaitable[bool]], within: float = 15.0) -> None:
    """Wait until `check` holds (the outbox delivers in the background)."""
    deadline = time.monotonic() + within
    while True:
        outcome = check()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


@pytest.fixture(scope="session")
def _users_server(settings: Settings, users_section: UsersSettings) -> Iterator[ServerThread]:
    with ServerThread(create_users_app(settings, users_section)) as server:
        yield server


@pytest.fixture(scope="session")
def _fake_courses(settings: Settings) -> Iterator[tuple[FakeCourses, ServerThread]]:
    fake = FakeCourses(courses_verifier(settings.service_key("payments")))
    with ServerThread(fake.app()) as server:
        yield fake, server


@pytest.fixture(scope="session")
def _stripe_stub() -> Iterator[tuple[StripeStub, ServerThread]]:
    stub = StripeStub(STRIPE_KEY, STRIPE_WHSEC)
    with ServerThread(stub.app()) as server:
        yield stub, server


@pytest.fixture(scope="session")
def _razorpay_stub() -> Iterator[tuple[RazorpayStub, ServerThread]]:
    stub = RazorpayStub(RAZORPAY_KEY_ID, RAZORPAY_SECRET, RAZORPAY_WHSEC)
    with ServerThread(stub.app()) as server:
        yield stub, server


@pytest.fixture(scope="session")
def _payments_server(
    settings: Settings,
    _users_server: ServerThread,
    _fake_courses: tuple[FakeCourses, ServerThread],
    _stripe_stub: tuple[StripeStub, ServerThread],
    _razorpay_stub: tuple[RazorpayStub, ServerThread],
) -> Iterator[tuple[ServerThread, Settings, PaymentsSettings]]:
    late = LateApp()
    server = ServerThread(late)
    payments_settings = settings.model_copy(
        update={
            "users_url": _users_server.url,
            "courses_url": _fake_courses[1].url,
            "payments_url": server.url,
            "service_timeout_seconds": 5.0,
        }
    )
    section = PaymentsSettings(
        _env_file=None,
        stripe=StripeSettings(
            secret_key=SecretStr(STRIPE_KEY),
            webhook_secret=SecretStr(STRIPE_WHSEC),
            api_base=_stripe_stub[1].url,
        ),
        razorpay=RazorpaySettings(
            key_id=RAZORPAY_KEY_ID,
            key_secret=SecretStr(RAZORPAY_SECRET),
            webhook_secret=SecretStr(RAZORPAY_WHSEC),
            api_base=_razorpay_stub[1].url,
        ),
        sandbox=SandboxSettings(webhook_secret=SecretStr(SANDBOX_SECRET)),
        # The reconciler runs when a test asks (tests/payments/test_reconcile.py).
        reconcile=ReconcileSettings(interval_seconds=0),
    )
    late.app = create_payments_app(payments_settings, section)
    with server:
        yield server, payments_settings, section


@pytest.fixture
def stack(
    clean_database: None,
    _payments_server: tuple[ServerThread, Settings, PaymentsSettings],
    _fake_courses: tuple[FakeCourses, ServerThread],
    _stripe_stub: tuple[StripeStub, ServerThread],
    _razorpay_stub: tuple[RazorpayStub, ServerThread],
    users_section: UsersSettings,
) -> Stack:
    server, payments_settings, section = _payments_server
    courses, stripe_stub, razorpay_stub = _fake_courses[0], _stripe_stub[0], _razorpay_stub[0]
    for stub in (courses, stripe_stub, razorpay_stub):
        stub.reset()
    keys = key_store(payments_settings, users_section)
    keys.load(create=False)
    return Stack(
        url=server.url,
        settings=payments_settings,
        section=section,
        courses=courses,
        stripe=stripe_stub,
        razorpay=razorpay_stub,
        keys=keys,
    )


@pytest.fixture(scope="module")
def courses_server(
    settings: Settings,
    courses_section: CoursesSettings,
    _payments_server: tuple[ServerThread, Settings, PaymentsSettings],
) -> Iterator[ServerThread]:
    _, payments_settings, _ = _payments_server
    courses_settings = settings.model_copy(
        update={
            "users_url": payments_settings.users_url,
            "payments_url": payments_settings.payments_url,
        }
    )
    with ServerThread(create_courses_app(courses_settings, courses_section)) as server:
        yield server


async def published_course(
    stack: Stack, courses_url: str, price: dict[str, str], teacher: str | None = None
) -> str:
    """A PUBLISHED course with one lecture, made through the real courses subgraph."""
    if teacher is None:
        _, teacher = stack.token(role="TEACHER")

    async def run(query: str, variables: dict[str, Any]) -> dict[str, Any]:
        return (await gql(courses_url, query, variables, token=teacher)).ok()

    course = await run(
        "mutation($i: CreateCourseInput!) { createCourse(input: $i) { id } }",
        {"i": {"title": "Type Systems", "price": price}},
    )
    course_id: str = course["createCourse"]["id"]
    section = await run(
        'mutation($c: ID!) { addSection(courseId: $c, title: "Basics") { id } }', {"c": course_id}
    )
    await run(
        'mutation($s: ID!) { addLecture(sectionId: $s, input: {title: "Lambda"}) { id } }',
        {"s": section["addSection"]["id"]},
    )
    await run("mutation($c: ID!) { publishCourse(id: $c) { status } }", {"c": course_id})
    return course_id
