"""The payments subgraph's composition root: wired once, in the app's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial

from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from contracts.events import entities_of
from contracts.events.payments import SandboxWebhook
from coursegraph.background import PollingLoop
from coursegraph.db import Database, service_database
from coursegraph.events import EventBus, connect_bus
from coursegraph.live import LiveFeed
from coursegraph.log import get_logger
from coursegraph.outbox import OutboxRelay
from coursegraph.settings import Settings, load_section
from subgraphs.payments.clients import CoursesClient
from subgraphs.payments.effects import outbox_handlers
from subgraphs.payments.models import ProviderName, outbox
from subgraphs.payments.providers.base import PaymentProvider
from subgraphs.payments.providers.razorpay import RazorpayProvider
from subgraphs.payments.providers.sandbox import SandboxProvider
from subgraphs.payments.providers.stripe import StripeProvider
from subgraphs.payments.reconcile import ReconcileMetrics, Reconciler
from subgraphs.payments.refunds import RefundService
from subgraphs.payments.service import LIVE_KEYS, PaymentService
from subgraphs.payments.settings import DEV_SANDBOX_WEBHOOK_SECRET, PaymentsSettings

log = get_logger("coursegraph.payments")


@dataclass
class PaymentsContainer:
    database: Database
    providers: dict[ProviderName, PaymentProvider]
    sandbox: SandboxProvider | None
    courses: CoursesClient
    bus: EventBus
    relay: OutboxRelay
    live: LiveFeed
    payments: PaymentService
    refunds: RefundService
    reconciler: Reconciler
    metrics: CollectorRegistry


def configured_providers(
    settings: Settings, section: PaymentsSettings, database: Database
) -> tuple[dict[ProviderName, PaymentProvider], SandboxProvider | None]:
    """The providers whose credentials are set (plus the sandbox unless turned off)."""
    providers: dict[ProviderName, PaymentProvider] = {}
    timeout = settings.service_timeout_seconds
    tolerance = section.webhook_tolerance_seconds
    stripe, razorpay = section.stripe, section.razorpay
    if stripe.secret_key is not None:
        providers[ProviderName.STRIPE] = StripeProvider(
            stripe.secret_key.get_secret_value(),
            _secret(stripe.webhook_secret),
            stripe.api_base,
            timeout_seconds=timeout,
            tolerance_seconds=tolerance,
        )
    if razorpay.key_id and razorpay.key_secret is not None:
        providers[ProviderName.RAZORPAY] = RazorpayProvider(
            razorpay.key_id,
            razorpay.key_secret.get_secret_value(),
            _secret(razorpay.webhook_secret),
            razorpay.api_base,
            timeout_seconds=timeout,
        )
    sandbox: SandboxProvider | None = None
    if section.sandbox.is_enabled(settings):
        secret = section.sandbox.webhook_secret.get_secret_value()
        if settings.is_production and secret == DEV_SANDBOX_WEBHOOK_SECRET:
            raise RuntimeError("SANDBOX_WEBHOOK_SECRET is the development default")
        sandbox = SandboxProvider(
            database,
            webhook_secret=secret,
            public_url=section.resolved_public_url(settings),
            checkout_ttl_seconds=section.sandbox.checkout_ttl_seconds,
            tolerance_seconds=tolerance,
            timeout_seconds=timeout,
        )
        providers[ProviderName.SANDBOX] = sandbox
    return providers, sandbox


async def _reconcile_pass(reconciler: Reconciler) -> int:
    """The periodic job: one repairing pass; the loop sleeps its interval after it."""
    found = await reconciler.run(repair=True)
    if found:
        log.warning(
            "reconciler found violations",
            found=len(found),
            open=sum(not v.repaired for v in found),
            kinds=sorted({v.kind for v in found}),
        )
    return 0


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


@asynccontextmanager
async def bootstrap(
    settings: Settings, section: PaymentsSettings | None = None, *, background: bool = True
) -> AsyncIterator[PaymentsContainer]:
    """`background=False` (the CLI): no relay loop and no periodic reconciler. `section`
    defaults to the environment's."""
    section = section or load_section(PaymentsSettings)
    database = service_database(settings, "payments")
    providers, sandbox = configured_providers(settings, section, database)
    courses = CoursesClient.from_settings(settings)
    bus = await connect_bus(settings)
    refunds: RefundService | None = None

    async def refund_unkept(payment_id: str, reason: str | None) -> None:
        # Bound once the services exist: they need the relay these handlers feed.
        assert refunds is not None
        await refunds.refund_unkept(payment_id, reason)

    handlers = outbox_handlers(database, courses, refund_unkept)
    if sandbox is not None:
        handlers[SandboxWebhook.TOPIC] = sandbox.deliver_webhook
    relay = OutboxRelay(database, outbox, bus, handlers, entities=entities_of)
    if sandbox is not None:
        sandbox.on_settled = relay.wake
    live = LiveFeed(LIVE_KEYS, nats_url=settings.nats_url, name="payments-live")
    payments = PaymentService(database, providers, courses, relay, settings, live)
    refunds = RefundService(database, payments, courses, relay, section.refund_window_days)
    registry = CollectorRegistry()
    reconciler = Reconciler(
        database,
        payments,
        refunds,
        courses,
        relay,
        ReconcileMetrics(registry),
        grace_seconds=section.reconcile.grace_seconds,
        window_days=section.refund_window_days + 1,
    )
    interval = section.reconcile.interval_seconds
    periodic = PollingLoop(
        "payments-reconciler", partial(_reconcile_pass, reconciler), batch=1, poll_seconds=interval
    )
    if background:
        await live.start()
        relay.start()
        if interval > 0:
            periodic.start()
    try:
        yield PaymentsContainer(
            database=database,
            providers=providers,
            sandbox=sandbox,
            courses=courses,
            bus=bus,
            relay=relay,
            live=live,
            payments=payments,
            refunds=refunds,
            reconciler=reconciler,
            metrics=registry,
        )
    finally:
        await periodic.stop()
        await relay.stop()
        await live.stop()
        for provider in providers.values():
            await provider.aclose()
        await courses.aclose()
        await bus.close()
        await database.dispose()
