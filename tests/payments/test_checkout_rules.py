"""What createPayment refuses, reuses and charges: the amount is always courses' price."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest
from pydantic import SecretStr

from coursegraph.db import Database
from coursegraph.settings import Environment, Settings
from subgraphs.payments.bootstrap import configured_providers
from subgraphs.payments.models import ProviderName
from subgraphs.payments.settings import PaymentsSettings, SandboxSettings, StripeSettings
from tests.helpers import gql
from tests.payments.conftest import CREATE, Stack

PREPARE = """
mutation($userId: ID!, $courseId: ID!, $provider: PaymentProvider!, $order: PaymentOrderInput!) {
  preparePayment(userId: $userId, courseId: $courseId, provider: $provider, order: $order) { id }
}"""


async def test_client_cannot_choose_the_amount(stack: Stack) -> None:
    course = stack.course(price_minor=4999, currency="USD")
    _, token = stack.token()
    sneaky = {"courseId": course.id, "provider": "STRIPE", "amount": 1}
    refused = await gql(stack.graphql, CREATE, {"input": sneaky}, token=token)
    assert refused.code == "BAD_USER_INPUT"
    assert stack.stripe.intents == {}

    created = (await stack.create(token, course.id, "STRIPE")).ok()["createPayment"]
    assert created["amount"] == {"amount": "49.99", "currency": "USD"}
    (intent,) = stack.stripe.intents.values()
    assert (intent["amount"], intent["currency"]) == (4999, "usd")


@pytest.mark.parametrize(
    ("price", "currency", "amount", "sent"),
    [(1999, "USD", "19.99", (1999, "usd")), (49900, "INR", "499.00", (49900, "inr")),
     (1500, "JPY", "1500", (1500, "jpy"))],
)  # fmt: skip
async def test_minor_units_per_currency(
    stack: Stack, price: int, currency: str, amount: str, sent: tuple[int, str]
) -> None:
    course = stack.course(price_minor=price, currency=currency)
    _, token = stack.token()
    created = (await stack.create(token, course.id, "STRIPE")).ok()["createPayment"]
    assert created["amount"] == {"amount": amount, "currency": currency}
    (intent,) = stack.stripe.intents.values()
    assert (intent["amount"], intent["currency"]) == sent


async def test_free_unpublished_missing_and_enrolled_are_refused(stack: Stack) -> None:
    user_id, token = stack.token()
    free = stack.course(price_minor=None, currency=None)
    draft = stack.course(status="DRAFT")
    archived = stack.course(status="ARCHIVED")
    enrolled = stack.course()
    stack.courses.enroll(user_id, enrolled.id, "ACTIVE")
    completed = stack.course()
    stack.courses.enroll(user_id, completed.id, "COMPLETED")
    for course_id in (free.id, draft.id, archived.id, enrolled.id, completed.id):
        assert (await stack.create(token, course_id, "SANDBOX")).code == "CONFLICT", course_id
    assert (await stack.create(token, "no-such-course", "SANDBOX")).code == "NOT_FOUND"

    dropped = stack.course()
    stack.courses.enroll(user_id, dropped.id, "DROPPED")
    assert (await stack.create(token, dropped.id, "SANDBOX")).ok()["createPayment"]["id"]


async def test_signed_out_visitor_cannot_pay(stack: Stack) -> None:
    course = stack.course()
    result = await gql(
        stack.graphql, CREATE, {"input": {"courseId": course.id, "provider": "SANDBOX"}}
    )
    assert result.code == "UNAUTHENTICATED"


async def test_pending_payment_is_reused_even_under_concurrency(stack: Stack) -> None:
    course = stack.course()
    _, token = stack.token()
    results = await asyncio.gather(*(stack.create(token, course.id, "STRIPE") for _ in range(5)))
    ids = {r.ok()["createPayment"]["id"] for r in results}
    assert len(ids) == 1
    secrets_seen = {r.ok()["createPayment"]["checkout"]["clientSecret"] for r in results}
    assert len(secrets_seen) == 1
    # One PaymentIntent: the idempotency key is the payment's.
    assert len(stack.stripe.intents) == 1
    keys = {form.get("metadata[payment_id]") for _, _, form in stack.stripe.requests}
    assert keys == ids

    # Another provider is another payment.
    other = (await stack.create(token, course.id, "SANDBOX")).ok()["createPayment"]
    assert other["id"] not in ids


async def test_a_price_change_replaces_the_pending_payment(stack: Stack) -> None:
    course = stack.course(price_minor=1000)
    _, token = stack.token()
    first = (await stack.create(token, course.id, "SANDBOX")).ok()["createPayment"]
    course.price_minor = 1200
    second = (await stack.create(token, course.id, "SANDBOX")).ok()["createPayment"]
    assert second["id"] != first["id"]
    assert second["amount"]["amount"] == "12.00"
    old = (await stack.payment(token, first["id"])).ok()["payment"]
    assert old["status"] == "CANCELED"


async def test_prepare_payment_is_for_courses_only(stack: Stack) -> None:
    course = stack.course()
    user_id, token = stack.token()
    order = {
        "title": course.title,
        "priceAmountMinor": course.price_minor,
        "currency": course.currency,
        "viewerEnrolled": False,
    }
    variables = {"userId": user_id, "courseId": course.id, "provider": "SANDBOX", "order": order}
    prepared = await gql(stack.graphql, PREPARE, variables, signer=stack.signer("courses"))
    payment_id = prepared.ok()["preparePayment"]["id"]
    # Courses stated price and seat: payments asked courses nothing.
    assert stack.courses.calls == []
    # The user's own createPayment reuses it: one PENDING payment per course and provider.
    created = (await stack.create(token, course.id, "SANDBOX")).ok()["createPayment"]
    assert created["id"] == payment_id

    assert (await gql(stack.graphql, PREPARE, variables, signer=None)).code == "UNAUTHENTICATED"
    forbidden = await gql(stack.graphql, PREPARE, variables, signer=stack.signer("files"))
    assert forbidden.code == "FORBIDDEN"
    enrolled = {**variables, "order": {**order, "viewerEnrolled": True}}
    conflict = await gql(stack.graphql, PREPARE, enrolled, signer=stack.signer("courses"))
    assert conflict.code == "CONFLICT"


async def test_unknown_provider_is_refused(stack: Stack) -> None:
    course = stack.course()
    _, token = stack.token()
    result = await gql(
        stack.graphql, CREATE, {"input": {"courseId": course.id, "provider": "PAYPAL"}}, token=token
    )
    assert result.code == "BAD_USER_INPUT"


async def test_only_configured_providers_are_offered(settings: Settings) -> None:
    database = cast(Database, None)  # not touched while wiring
    section = PaymentsSettings(_env_file=None)
    providers, sandbox = configured_providers(settings, section, database)
    assert list(providers) == [ProviderName.SANDBOX]
    assert sandbox is not None
    await sandbox.aclose()

    production = settings.model_copy(update={"environment": Environment.PRODUCTION})
    providers, sandbox = configured_providers(production, section, database)
    assert providers == {}
    assert sandbox is None

    sandbox_on = section.model_copy(update={"sandbox": SandboxSettings(enabled=True)})
    with pytest.raises(RuntimeError, match="SANDBOX_WEBHOOK_SECRET"):
        configured_providers(production, sandbox_on, database)

    stripe_only = section.model_copy(
        update={"stripe": StripeSettings(secret_key=SecretStr("sk_live_x"))}
    )
    providers, _ = configured_providers(production, stripe_only, database)
    assert list(providers) == [ProviderName.STRIPE]
    for provider in providers.values():
        await provider.aclose()
