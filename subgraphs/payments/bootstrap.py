"""The payments subgraph's composition root: wired once, in the app's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from pydantic import SecretStr

from coursegraph.db import Database, create_engine
from coursegraph.events import EventBus, connect_bus
from coursegraph.outbox import OutboxRelay
from coursegraph.settings import DEV_SANDBOX_WEBHOOK_SECRET, Settings
from subgraphs.payments.clients import CoursesClient
from subgraphs.payments.effects import outbox_handlers
from subgraphs.payments.models import outbox
from subgraphs.payments.providers.base import PaymentProvider, ProviderName
from subgraphs.payments.providers.razorpay import RazorpayProvider
from subgraphs.payments.providers.sandbox import WEBHOOK_TOPIC, SandboxProvider
from subgraphs.payments.providers.stripe import StripeProvider
from subgraphs.payments.refunds import RefundService
from subgraphs.payments.service import PaymentService


@dataclass
class PaymentsContainer:
    database: Database
    providers: dict[ProviderName, PaymentProvider]
    sandbox: SandboxProvider | None
    courses: CoursesClient
    bus: EventBus
    relay: OutboxRelay
    payments: PaymentService
    refunds: RefundService


def configured_providers(
    settings: Settings, database: Database
) -> tuple[dict[ProviderName, PaymentProvider], SandboxProvider | None]:
    """The providers whose credentials are set (plus the sandbox unless turned off)."""
    providers: dict[ProviderName, PaymentProvider] = {}
    timeout = settings.service_timeout_seconds
    tolerance = settings.webhook_tolerance_seconds
    if settings.stripe_secret_key is not None:
        providers[ProviderName.STRIPE] = StripeProvider(
            settings.stripe_secret_key.get_secret_value(),
            _secret(settings.stripe_webhook_secret),
            settings.stripe_api_base,
            timeout_seconds=timeout,
            tolerance_seconds=tolerance,
        )
    if settings.razorpay_key_id and settings.razorpay_key_secret is not None:
        providers[ProviderName.RAZORPAY] = RazorpayProvider(
            settings.razorpay_key_id,
            settings.razorpay_key_secret.get_secret_value(),
            _secret(settings.razorpay_webhook_secret),
            settings.razorpay_api_base,
            timeout_seconds=timeout,
        )
    sandbox: SandboxProvider | None = None
    if settings.sandbox_is_enabled:
        secret = settings.sandbox_webhook_secret.get_secret_value()
        if settings.is_production and secret == DEV_SANDBOX_WEBHOOK_SECRET:
            raise RuntimeError("SANDBOX_WEBHOOK_SECRET is the development default")
        sandbox = SandboxProvider(
            database,
            webhook_secret=secret,
            public_url=settings.resolved_payments_public_url,
            checkout_ttl_seconds=settings.sandbox_checkout_ttl_seconds,
            tolerance_seconds=tolerance,
            timeout_seconds=timeout,
        )
        providers[ProviderName.SANDBOX] = sandbox
    return providers, sandbox


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


@asynccontextmanager
async def bootstrap(settings: Settings) -> AsyncIterator[PaymentsContainer]:
    database = Database(
        create_engine(settings.database_url_for("payments"), pool_size=settings.database_pool_size)
    )
    providers, sandbox = configured_providers(settings, database)
    courses = CoursesClient.from_settings(settings)
    bus = await connect_bus(settings.nats_url)
    refunds: RefundService | None = None

    async def refund_unkept(payment_id: str, reason: str | None) -> None:
        # Bound once the services exist: they need the relay these handlers feed.
        assert refunds is not None
        await refunds.refund_unkept(payment_id, reason)

    handlers = outbox_handlers(database, courses, refund_unkept)
    if sandbox is not None:
        handlers[WEBHOOK_TOPIC] = sandbox.deliver_webhook
    relay = OutboxRelay(database, outbox, bus, handlers)
    if sandbox is not None:
        sandbox.on_settled = relay.wake
    payments = PaymentService(database, providers, courses, relay, settings)
    refunds = RefundService(database, payments, courses, relay, settings)
    relay.start()
    try:
        yield PaymentsContainer(
            database=database,
            providers=providers,
            sandbox=sandbox,
            courses=courses,
            bus=bus,
            relay=relay,
            payments=payments,
            refunds=refunds,
        )
    finally:
        await relay.stop()
        for provider in providers.values():
            await provider.aclose()
        await courses.aclose()
        await bus.close()
        await database.dispose()
