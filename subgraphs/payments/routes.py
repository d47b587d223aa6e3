"""Payments' plain HTTP routes: provider webhooks and the sandbox's checkout page.

Webhooks are verified on the raw body before anything is parsed, and answered 2xx only
after their effect is committed (a provider retries anything else).
"""

from __future__ import annotations

import html

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from coursegraph.body_limit import BodyLimit
from coursegraph.log import get_logger
from coursegraph.money import to_decimal
from subgraphs.payments.bootstrap import PaymentsContainer
from subgraphs.payments.models import ProviderName
from subgraphs.payments.providers.base import InvalidWebhook
from subgraphs.payments.providers.sandbox import CheckoutClosed, CheckoutGone, CheckoutNotFound

log = get_logger("coursegraph.payments.webhooks")

# Provider events are small; anything larger is not one.
MAX_WEBHOOK_BYTES = 256 * 1024
# The checkout page posts {"outcome": "succeeded"}.
MAX_CHECKOUT_BYTES = 4 * 1024


def _container(request: Request) -> PaymentsContainer:
    container: PaymentsContainer = request.app.state.container
    return container


async def webhook(request: Request) -> Response:
    try:
        provider_name = ProviderName(request.path_params["provider"].upper())
    except ValueError:
        return JSONResponse({"error": "unknown provider"}, status_code=404)
    container = _container(request)
    adapter = container.providers.get(provider_name)
    if adapter is None:
        return JSONResponse({"error": "provider not configured"}, status_code=404)
    body = await request.body()
    try:
        event = adapter.parse_webhook(body, request.headers)
    except InvalidWebhook as error:
        log.warning("webhook refused", provider=provider_name.value, reason=str(error))
        return JSONResponse({"error": f"invalid webhook: {error}"}, status_code=400)
    outcome = await container.payments.handle_webhook(provider_name, event)
    log.info(
        "webhook handled",
        provider=provider_name.value,
        event_id=event.event_id,
        event_type=event.event_type,
        outcome=outcome,
    )
    return JSONResponse({"received": True, "outcome": outcome})


# ------------------------------------------------------------------ sandbox checkout
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sandbox checkout</title>
<style>body{{font:16px system-ui;max-width:28rem;margin:4rem auto}}
button{{font-size:1rem;padding:.5rem 1.2rem;margin-right:.5rem}}</style></head>
<body><h1>Sandbox checkout</h1>
<p>Amount: <strong>{amount} {currency}</strong></p><p>Status: {status}</p>
<button onclick="settle('succeeded')">Pay</button>
<button onclick="settle('failed')">Decline</button>
<pre id="result"></pre>
<script>
async function settle(outcome) {{
  const response = await fetch(location.href, {{method: "POST",
    headers: {{"content-type": "application/json"}}, body: JSON.stringify({{outcome}})}});
  document.getElementById("result").textContent =
    JSON.stringify(await response.json(), null, 2);
}}
</script></body></html>
"""


async def sandbox_checkout(request: Request) -> Response:
    sandbox = _container(request).sandbox
    if sandbox is None:
        return JSONResponse({"error": "the sandbox provider is off"}, status_code=404)
    checkout_id = request.path_params["checkout_id"]
    if request.method == "GET":
        try:
            view = await sandbox.checkout(checkout_id)
        except CheckoutNotFound:
            return HTMLResponse("<h1>No such checkout</h1>", status_code=404)
        page = PAGE.format(
            amount=html.escape(str(to_decimal(view.amount_minor, view.currency))),
            currency=html.escape(view.currency),
            status=html.escape(view.status.lower()),
        )
        return HTMLResponse(page)
    try:
        outcome = orjson.loads(await request.body()).get("outcome")
    except (orjson.JSONDecodeError, AttributeError):
        outcome = None
    if outcome not in ("succeeded", "failed"):
        return JSONResponse({"error": 'send {"outcome": "succeeded" | "failed"}'}, status_code=400)
    try:
        settlement = await sandbox.settle(checkout_id, outcome)
    except CheckoutNotFound:
        return JSONResponse({"error": "no such checkout"}, status_code=404)
    except CheckoutGone as error:
        return JSONResponse({"error": str(error)}, status_code=410)
    except CheckoutClosed as error:
        return JSONResponse({"error": str(error)}, status_code=409)
    return JSONResponse(
        {"gatewayPaymentId": settlement.gateway_payment_id, "signature": settlement.signature}
    )


async def metrics(request: Request) -> Response:
    """The reconciler's counters, in Prometheus' text format."""
    return Response(generate_latest(_container(request).metrics), media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/metrics", metrics, methods=["GET"]),
    Route("/webhooks/{provider}", BodyLimit(webhook, MAX_WEBHOOK_BYTES), methods=["POST"]),
    Route(
        "/sandbox/checkout/{checkout_id}",
        BodyLimit(sandbox_checkout, MAX_CHECKOUT_BYTES),
        methods=["GET", "POST"],
    ),
]
