"""The whole stack, started once for the end-to-end package: five subgraph processes and
the router, the Stripe and Razorpay API stand-ins in threads, a database of its own on
the test server (see `fresh_database` for why not the shared `database_url` one), NATS
JetStream (events cross processes only through it) and an SMTP sink for notifications.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from coursegraph.testing import ServerThread
from subgraphs.notifications.sink import MailSink
from tests.e2e.client import Api
from tests.e2e.stack import Stack, build_stack, free_ports, fresh_database
from tests.payments.stubs import RazorpayStub, StripeStub

STRIPE_KEY = "sk_test_e2e"
STRIPE_WHSEC = "whsec_e2e"
RAZORPAY_KEY_ID = "rzp_test_e2e"
RAZORPAY_SECRET = "rzp_secret_e2e"
RAZORPAY_WHSEC = "rzp_webhook_e2e"
# What a third-party router sends the subgraphs (test_hive_gateway.py).
ROUTER_SHARED_SECRET = secrets.token_hex(32)


@pytest.fixture(scope="package")
def stripe() -> Iterator[tuple[StripeStub, str]]:
    stub = StripeStub(STRIPE_KEY, STRIPE_WHSEC)
    with ServerThread(stub.app()) as server:
        yield stub, server.url


@pytest.fixture(scope="package")
def razorpay() -> Iterator[tuple[RazorpayStub, str]]:
    stub = RazorpayStub(RAZORPAY_KEY_ID, RAZORPAY_SECRET, RAZORPAY_WHSEC)
    with ServerThread(stub.app()) as server:
        yield stub, server.url


@pytest.fixture(scope="package")
def e2e_database_url(database_server_url: str) -> Iterator[str]:
    with fresh_database(database_server_url, "coursegraph_e2e") as url:
        yield url


@pytest.fixture(scope="package")
def mail_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailSink]:
    """Where the stack's notifications send mail (tests read its Maildir)."""
    (port,) = free_ports(1)
    with MailSink(tmp_path_factory.mktemp("mailbox"), port=port) as sink:
        yield sink


@pytest.fixture(scope="package")
def stack(
    e2e_database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    stripe: tuple[StripeStub, str],
    razorpay: tuple[RazorpayStub, str],
    nats_url: str,
    mail_sink: MailSink,
) -> Iterator[Stack]:
    workdir: Path = tmp_path_factory.mktemp("e2e")
    (workdir / "data").mkdir()
    running = build_stack(
        workdir,
        e2e_database_url,
        {
            "NATS_URL": nats_url,
            "SMTP_HOST": mail_sink.host,
            "SMTP_PORT": str(mail_sink.port),
            "SMTP_SECURITY": "none",
            "MAIL_POLL_SECONDS": "0.2",
            "MAILBOX_DIR": str(mail_sink.maildir),
            "SERVICE_SECRET_KEY": secrets.token_hex(16),
            "ROUTER_SHARED_SECRET": ROUTER_SHARED_SECRET,
            "SANDBOX_WEBHOOK_SECRET": secrets.token_hex(16),
            "STRIPE_SECRET_KEY": STRIPE_KEY,
            "STRIPE_WEBHOOK_SECRET": STRIPE_WHSEC,
            "STRIPE_API_BASE": stripe[1],
            "RAZORPAY_KEY_ID": RAZORPAY_KEY_ID,
            "RAZORPAY_KEY_SECRET": RAZORPAY_SECRET,
            "RAZORPAY_WEBHOOK_SECRET": RAZORPAY_WHSEC,
            "RAZORPAY_API_BASE": razorpay[1],
            # The local processor probes the upload itself and its playback URL is served
            # by files (HTTP Range), so a client streams it here; test_mux_flow runs a
            # second stack whose files sends videos to the Mux stand-in.
            "FILES_VIDEO_PROCESSOR": "local",
            # Pages on another origin (test_browser.py), as development allows by default.
            "CORS_ORIGINS": "http://localhost:*",
        },
    )
    with running:
        yield running


@pytest.fixture
def api(stack: Stack) -> Api:
    return Api(stack.graphql_url)
