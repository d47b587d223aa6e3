"""The payments subgraph's settings section: providers, refunds, the reconciler.

A provider is offered only when configured: Stripe needs its secret key, Razorpay its key
id and secret; the built-in sandbox is on unless production (or set false).
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from coursegraph.settings import Section, Settings

DEV_SANDBOX_WEBHOOK_SECRET = "coursegraph-sandbox-webhook-secret"


class StripeSettings(BaseModel):
    """STRIPE_*."""

    secret_key: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    api_base: str = "https://api.stripe.com"


class RazorpaySettings(BaseModel):
    """RAZORPAY_*."""

    key_id: str | None = None
    key_secret: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    api_base: str = "https://api.razorpay.com"


class SandboxSettings(BaseModel):
    """SANDBOX_*."""

    enabled: bool | None = None  # unset: on, except in production
    webhook_secret: SecretStr = SecretStr(DEV_SANDBOX_WEBHOOK_SECRET)
    checkout_ttl_seconds: int = 3600

    def is_enabled(self, settings: Settings) -> bool:
        return not settings.is_production if self.enabled is None else self.enabled


class ReconcileSettings(BaseModel):
    """PAYMENTS_RECONCILE_*: the reconciler's periodic run (0: off) and how old a row
    must be before it is judged."""

    interval_seconds: float = 300.0
    grace_seconds: float = 120.0


class PaymentsSettings(Section):
    # Public address of payments, used in the sandbox checkout URL and as the target of
    # sandbox webhooks; default: PAYMENTS_URL.
    public_url: str | None = Field(default=None, validation_alias="payments_public_url")
    refund_window_days: int = 30
    # Seconds a signed webhook stays acceptable (Stripe's and the sandbox's `t=`).
    webhook_tolerance_seconds: int = 300
    reconcile: ReconcileSettings = Field(
        default_factory=ReconcileSettings, validation_alias="payments_reconcile"
    )
    stripe: StripeSettings = Field(default_factory=StripeSettings)
    razorpay: RazorpaySettings = Field(default_factory=RazorpaySettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)

    def resolved_public_url(self, settings: Settings) -> str:
        return (self.public_url or settings.service_url("payments")).rstrip("/")
