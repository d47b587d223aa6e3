"""Payments' settings section: variable names, the sandbox default, the public URL."""

from __future__ import annotations

import pytest

from coursegraph.settings import Settings
from subgraphs.payments.settings import PaymentsSettings


def test_variables_keep_their_names(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "PAYMENTS_PUBLIC_URL": "https://pay.example.com/",
        "PAYMENTS_RECONCILE_INTERVAL_SECONDS": "0",
        "REFUND_WINDOW_DAYS": "14",
        "WEBHOOK_TOLERANCE_SECONDS": "60",
        "STRIPE_SECRET_KEY": "sk_test_x",
        "RAZORPAY_KEY_ID": "rzp_test_x",
        "RAZORPAY_API_BASE": "http://razorpay.local",
        "SANDBOX_CHECKOUT_TTL_SECONDS": "120",
        "PAYMENTS_URL": "http://payments.internal",  # the kernel's, not this section's
    }.items():
        monkeypatch.setenv(name, value)
    section = PaymentsSettings(_env_file=None)
    assert (section.reconcile.interval_seconds, section.reconcile.grace_seconds) == (0, 120)
    assert (section.refund_window_days, section.webhook_tolerance_seconds) == (14, 60)
    assert section.stripe.secret_key is not None
    assert section.stripe.secret_key.get_secret_value() == "sk_test_x"
    assert section.stripe.api_base == "https://api.stripe.com"
    assert (section.razorpay.key_id, section.razorpay.api_base) == (
        "rzp_test_x",
        "http://razorpay.local",
    )
    assert section.sandbox.checkout_ttl_seconds == 120
    kernel = Settings(_env_file=None)
    assert section.resolved_public_url(kernel) == "https://pay.example.com"
    monkeypatch.delenv("PAYMENTS_PUBLIC_URL")
    assert PaymentsSettings(_env_file=None).resolved_public_url(kernel) == (
        "http://payments.internal"
    )


def test_the_sandbox_is_on_except_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    production = Settings(
        _env_file=None, COURSEGRAPH_ENV="production", service_secret_key="a-real-secret"
    )
    development = Settings(_env_file=None)
    section = PaymentsSettings(_env_file=None)
    assert section.sandbox.is_enabled(development)
    assert not section.sandbox.is_enabled(production)
    monkeypatch.setenv("SANDBOX_ENABLED", "false")
    assert not PaymentsSettings(_env_file=None).sandbox.is_enabled(development)
    monkeypatch.setenv("SANDBOX_ENABLED", "true")
    assert PaymentsSettings(_env_file=None).sandbox.is_enabled(production)
