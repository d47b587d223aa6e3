"""Local stand-ins for what payments talks to: courses (a fake subgraph), and the
Stripe and Razorpay APIs (small stateful fakes the real SDKs are pointed at).

They live in the test process; each is served by a real uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
import orjson
import stripe
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from coursegraph.service_auth import MemoryNonceStore, ServiceAuthError, ServiceVerifier

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


class LateApp:
    """An ASGI app set after the server's port is known (payments needs its own URL)."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert self.app is not None
        await self.app(scope, receive, send)


# ------------------------------------------------------------------ courses
@dataclass
class FakeCourse:
    id: str
    title: str = "Compilers"
    status: str = "PUBLISHED"
    price_minor: int | None = 4999
    currency: str | None = "USD"
    teacher_id: str = "00000000-0000-0000-0000-00000000beef"


@dataclass
class FakeEnrollment:
    id: str
    user_id: str
    course_id: str
    payment_id: str | None
    status: str
    progress: float = 0.0
    certificate_issued: bool = False
    frozen: bool = False


@dataclass
class FakeCourses:
    """Answers courses' internal operations for payments from memory."""

    verifier: ServiceVerifier
    courses: dict[str, FakeCourse] = field(default_factory=dict)
    enrollments: dict[str, FakeEnrollment] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # Each transition of an enrollment to ACTIVE by a payment (to count completions).
    activations: list[str] = field(default_factory=list)
    down: bool = False
    # When set, calls go on unchanged (signature included) to the real courses subgraph.
    forward_to: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.courses.clear()
            self.enrollments.clear()
            self.calls.clear()
            self.activations.clear()
            self.down = False
            self.forward_to = None

    def add_course(self, **values: Any) -> FakeCourse:
        course = FakeCourse(id=values.pop("id", f"course-{secrets.token_hex(4)}"), **values)
        self.courses[course.id] = course
        return course

    def enroll(self, user_id: str, course_id: str, status: str = "ACTIVE") -> FakeEnrollment:
        enrollment = FakeEnrollment(
            id=f"enr-{secrets.token_hex(4)}",
            user_id=user_id,
            course_id=course_id,
            payment_id=None,
            status=status,
        )
        self.enrollments[enrollment.id] = enrollment
        return enrollment

    def by_payment(self, payment_id: str) -> FakeEnrollment | None:
        return next((e for e in self.enrollments.values() if e.payment_id == payment_id), None)

    def operations(self, name: str) -> list[dict[str, Any]]:
        return [variables for op, variables in self.calls if op == name]

    async def graphql(self, request: Request) -> Response:
        if self.down:
            return JSONResponse({"error": "down"}, status_code=503)
        body = await request.body()
        if self.forward_to is not None:
            # Counted by operation name, so tests can see how many calls a flow makes.
            name = str(orjson.loads(body).get("query", "")).split("(")[0].split()[-1]
            with self.lock:
                self.calls.append((name, {}))
            async with httpx.AsyncClient(timeout=30) as client:
                forwarded = await client.post(
                    f"{self.forward_to}/graphql", content=body, headers=dict(request.headers)
                )
            return Response(forwarded.content, forwarded.status_code, media_type="application/json")
        try:
            caller = await self.verifier.verify(request.method, "/graphql", request.headers, body)
        except ServiceAuthError as error:
            return JSONResponse({"errors": [{"message": str(error)}]}, status_code=401)
        assert caller == "payments"
        document = orjson.loads(body)
        query: str = document["query"]
        variables: dict[str, Any] = document.get("variables") or {}
        for name in (
            "coursePricing",
            "viewerProgress",
            "enrollmentsForPayments",
            # Before its suffix "freezeEnrollmentForPayment(", matched by substring.
            "unfreezeEnrollmentForPayment",
            "freezeEnrollmentForPayment",
            "completePaidEnrollment",
            "dropEnrollmentForPayment",
        ):
            if f"{name}(" in query:
                with self.lock:
                    self.calls.append((name, variables))
                    data = getattr(self, f"_{name}")(**variables)
                return JSONResponse({"data": {name: data}})
        return JSONResponse({"errors": [{"message": "unknown operation"}]})

    def _enrollment_of(self, user_id: str, course_id: str) -> FakeEnrollment | None:
        found = [
            e
            for e in self.enrollments.values()
            if e.user_id == user_id and e.course_id == course_id
        ]
        return found[-1] if found else None

    def _coursePricing(self, courseId: str) -> dict[str, Any] | None:
        course = self.courses.get(courseId)
        if course is None:
            return None
        return {
            "courseId": course.id,
            "title": course.title,
            "status": course.status,
            "teacherId": course.teacher_id,
            "priceAmountMinor": course.price_minor,
            "currency": course.currency,
        }

    def _viewerProgress(self, userId: str, courseId: str) -> dict[str, Any]:
        enrollment = self._enrollment_of(userId, courseId)
        if enrollment is None:
            return {
                "enrolled": False,
                "status": None,
                "progressPercentage": 0.0,
                "certificateIssued": False,
            }
        return {
            "enrolled": enrollment.status in ("ACTIVE", "COMPLETED"),
            "status": enrollment.status,
            "progressPercentage": enrollment.progress,
            "certificateIssued": enrollment.certificate_issued,
        }

    def _internal(self, enrollment: FakeEnrollment) -> dict[str, Any]:
        return {
            "id": enrollment.id,
            "userId": enrollment.user_id,
            "courseId": enrollment.course_id,
            "status": enrollment.status,
            "frozen": enrollment.frozen,
            "frozenAt": "2026-01-01T00:00:00+00:00" if enrollment.frozen else None,
            "progressPercentage": enrollment.progress,
            "certificateIssued": enrollment.certificate_issued,
            "certificateValid": enrollment.certificate_issued and enrollment.status != "DROPPED",
            "paymentId": enrollment.payment_id,
        }

    def _freezeEnrollmentForPayment(
        self, userId: str, courseId: str, paymentId: str, allowCertificate: bool
    ) -> dict[str, Any]:
        # As courses does: a payment with no seat yet gets a frozen one (or a DROPPED
        # row when another seat holds the course), so a late completion makes none.
        enrollment = self.by_payment(paymentId)
        if enrollment is None:
            held = self._enrollment_of(userId, courseId)
            taken = held is not None and held.status in ("ACTIVE", "COMPLETED")
            enrollment = self._paid_row(userId, courseId, paymentId, taken)
        if enrollment.status != "DROPPED" and (
            allowCertificate or not enrollment.certificate_issued
        ):
            enrollment.frozen = True
        return self._internal(enrollment)

    def _enrollmentsForPayments(self, paymentIds: list[str]) -> list[dict[str, Any] | None]:
        rows = [self.by_payment(p) for p in paymentIds]
        return [self._internal(row) if row else None for row in rows]

    def _paid_row(
        self, user_id: str, course_id: str, payment_id: str, dropped: bool
    ) -> FakeEnrollment:
        enrollment = FakeEnrollment(
            id=f"enr-{secrets.token_hex(4)}",
            user_id=user_id,
            course_id=course_id,
            payment_id=payment_id,
            status="DROPPED" if dropped else "ACTIVE",
        )
        self.enrollments[enrollment.id] = enrollment
        return enrollment

    def _unfreezeEnrollmentForPayment(self, paymentId: str) -> dict[str, Any] | None:
        enrollment = self.by_payment(paymentId)
        if enrollment is None:
            return None
        enrollment.frozen = False
        return self._internal(enrollment)

    def _completePaidEnrollment(self, userId: str, courseId: str, paymentId: str) -> dict[str, Any]:
        # As courses does: state-based on the payment id; a payment for a seat already
        # held (or a course now free) gets a DROPPED row and the holding seat is answered.
        enrollment = self.by_payment(paymentId)
        if enrollment is None:
            held = self._enrollment_of(userId, courseId)
            course = self.courses.get(courseId)
            free = course is not None and not course.price_minor
            if free and (held is None or held.status == "DROPPED"):
                held = self.enroll(userId, courseId)
            if held is not None and held.status in ("ACTIVE", "COMPLETED"):
                self._paid_row(userId, courseId, paymentId, dropped=True)
                return self._internal(held)
            enrollment = self._paid_row(userId, courseId, paymentId, dropped=False)
            self.activations.append(paymentId)
        return self._internal(enrollment)

    def _dropEnrollmentForPayment(
        self, paymentId: str, userId: str | None = None, courseId: str | None = None
    ) -> dict[str, Any] | None:
        enrollment = self.by_payment(paymentId)
        if enrollment is None:
            if userId is None or courseId is None:
                return None
            enrollment = self._paid_row(userId, courseId, paymentId, dropped=True)
        enrollment.status = "DROPPED"
        enrollment.frozen = False
        return {"id": enrollment.id, "status": enrollment.status}

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/graphql", self.graphql, methods=["POST"])])


def courses_verifier(payments_key: bytes) -> ServiceVerifier:
    return ServiceVerifier({"payments": payments_key}, MemoryNonceStore())


# ------------------------------------------------------------------ Stripe
def _stripe_error(status: int, message: str, kind: str = "invalid_request_error") -> Response:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)


@dataclass
class StripeStub:
    """PaymentIntents and refunds, with idempotency keys, as Stripe's API answers them."""

    secret_key: str
    webhook_secret: str
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    idempotent: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def reset(self) -> None:
        self.intents.clear()
        self.refunds.clear()
        self.idempotent.clear()
        self.requests.clear()

    def _authorised(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.secret_key}"

    async def _form(self, request: Request) -> dict[str, str]:
        return dict(parse_qsl((await request.body()).decode()))

    async def create_intent(self, request: Request) -> Response:
        if not self._authorised(request):
            return _stripe_error(401, "Invalid API Key provided", "authentication_error")
        form = await self._form(request)
        self.requests.append(("POST", "/v1/payment_intents", form))
        key = request.headers.get("idempotency-key", "")
        if key and key in self.idempotent:
            return JSONResponse(self.idempotent[key])
        intent_id = f"pi_{secrets.token_hex(12)}"
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": int(form["amount"]),
            "currency": form["currency"],
            "status": "requires_payment_method",
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(8)}",
            "latest_charge": None,
            "last_payment_error": None,
            "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
        }
        self.intents[intent_id] = intent
        if key:
            self.idempotent[key] = intent
        return JSONResponse(intent)

    async def get_intent(self, request: Request) -> Response:
        if not self._authorised(request):
            return _stripe_error(401, "Invalid API Key provided", "authentication_error")
        intent = self.intents.get(request.path_params["intent_id"])
        if intent is None:
            return _stripe_error(404, "No such payment_intent")
        return JSONResponse(intent)

    async def cancel_intent(self, request: Request) -> Response:
        if not self._authorised(request):
            return _stripe_error(401, "Invalid API Key provided", "authentication_error")
        intent = self.intents.get(request.path_params["intent_id"])
        if intent is None:
            return _stripe_error(404, "No such payment_intent")
        self.requests.append(("POST", f"/v1/payment_intents/{intent['id']}/cancel", {}))
        if intent["status"] in ("succeeded", "canceled"):
            # As Stripe: only an intent that has not succeeded (or ended) can be canceled.
            return _stripe_error(
                400,
                f"You cannot cancel this PaymentIntent because it has a status of "
                f"{intent['status']}.",
            )
        intent["status"] = "canceled"
        return JSONResponse(intent)

    async def create_refund(self, request: Request) -> Response:
        if not self._authorised(request):
            return _stripe_error(401, "Invalid API Key provided", "authentication_error")
        form = await self._form(request)
        self.requests.append(("POST", "/v1/refunds", form))
        key = request.headers.get("idempotency-key", "")
        if key and key in self.idempotent:
            return JSONResponse(self.idempotent[key])
        intent = self.intents.get(form.get("payment_intent", ""))
        if intent is None or intent["status"] != "succeeded":
            return _stripe_error(400, "This PaymentIntent has not succeeded.")
        refund = {
            "id": f"re_{secrets.token_hex(12)}",
            "object": "refund",
            "amount": int(form.get("amount", intent["amount"])),
            "currency": intent["currency"],
            "payment_intent": intent["id"],
            "charge": intent["latest_charge"],
            "status": "succeeded",
        }
        self.refunds[refund["id"]] = refund
        if key:
            self.idempotent[key] = refund
        return JSONResponse(refund)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/payment_intents", self.create_intent, methods=["POST"]),
                Route("/v1/payment_intents/{intent_id}", self.get_intent, methods=["GET"]),
                Route(
                    "/v1/payment_intents/{intent_id}/cancel",
                    self.cancel_intent,
                    methods=["POST"],
                ),
                Route("/v1/refunds", self.create_refund, methods=["POST"]),
            ]
        )

    # ---------------------------------------------------------------- test controls
    def succeed(self, intent_id: str, *, amount: int | None = None) -> dict[str, Any]:
        """The customer confirmed the intent with a working card."""
        intent = self.intents[intent_id]
        assert intent["status"] != "canceled", "Stripe refuses to confirm a canceled intent"
        intent["status"] = "succeeded"
        intent["latest_charge"] = f"ch_{secrets.token_hex(12)}"
        if amount is not None:
            intent["amount"] = amount
        return intent

    def decline(self, intent_id: str) -> dict[str, Any]:
        intent = self.intents[intent_id]
        intent["status"] = "requires_payment_method"
        intent["last_payment_error"] = {"message": "Your card was declined."}
        return intent

    def event(self, event_type: str, obj: dict[str, Any], event_id: str | None = None) -> bytes:
        return orjson.dumps(
            {
                "id": event_id or f"evt_{secrets.token_hex(12)}",
                "object": "event",
                "type": event_type,
                "created": int(time.time()),
                "data": {"object": obj},
            }
        )

    def sign(self, body: bytes, *, timestamp: int | None = None, secret: str | None = None) -> str:
        return stripe.WebhookSignature.generate_signature_header(
            body.decode(), secret or self.webhook_secret, timestamp
        )


# ------------------------------------------------------------------ Razorpay
def _razorpay_error(status: int, message: str) -> Response:
    code = "BAD_REQUEST_ERROR" if status < 500 else "SERVER_ERROR"
    return JSONResponse({"error": {"code": code, "description": message}}, status_code=status)


@dataclass
class RazorpayStub:
    """Orders, payments and refunds as Razorpay's API answers them (receipts dedupe)."""

    key_id: str
    key_secret: str
    webhook_secret: str
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def reset(self) -> None:
        self.orders.clear()
        self.payments.clear()
        self.refunds.clear()
        self.requests.clear()

    def _authorised(self, request: Request) -> bool:
        expected = base64.b64encode(f"{self.key_id}:{self.key_secret}".encode()).decode()
        return request.headers.get("authorization") == f"Basic {expected}"

    async def create_order(self, request: Request) -> Response:
        if not self._authorised(request):
            return _razorpay_error(401, "Authentication failed")
        data = orjson.loads(await request.body())
        self.requests.append(("POST", "/v1/orders", data))
        for order in self.orders.values():
            if order["receipt"] == data.get("receipt"):
                return JSONResponse(order)
        order = {
            "id": f"order_{secrets.token_hex(7)}",
            "entity": "order",
            "amount": data["amount"],
            "currency": data["currency"],
            "receipt": data.get("receipt"),
            "notes": data.get("notes") or {},
            "status": "created",
        }
        self.orders[order["id"]] = order
        return JSONResponse(order)

    async def get_payment(self, request: Request) -> Response:
        if not self._authorised(request):
            return _razorpay_error(401, "Authentication failed")
        payment = self.payments.get(request.path_params["payment_id"])
        if payment is None:
            return _razorpay_error(400, "The id provided does not exist")
        return JSONResponse(payment)

    async def order_payments(self, request: Request) -> Response:
        if not self._authorised(request):
            return _razorpay_error(401, "Authentication failed")
        order_id = request.path_params["order_id"]
        items = [p for p in self.payments.values() if p["order_id"] == order_id]
        return JSONResponse({"entity": "collection", "count": len(items), "items": items})

    async def refund(self, request: Request) -> Response:
        if not self._authorised(request):
            return _razorpay_error(401, "Authentication failed")
        data = orjson.loads(await request.body())
        self.requests.append(("POST", "/v1/payments/refund", data))
        payment = self.payments.get(request.path_params["payment_id"])
        if payment is None or payment["status"] != "captured":
            return _razorpay_error(400, "The payment has not been captured")
        for refund in self.refunds.values():
            if refund["receipt"] == data.get("receipt"):
                return JSONResponse(refund)
        refund = {
            "id": f"rfnd_{secrets.token_hex(7)}",
            "entity": "refund",
            "amount": data.get("amount", payment["amount"]),
            "currency": payment["currency"],
            "payment_id": payment["id"],
            "receipt": data.get("receipt"),
            "status": "processed",
        }
        self.refunds[refund["id"]] = refund
        payment["amount_refunded"] = payment.get("amount_refunded", 0) + refund["amount"]
        return JSONResponse(refund)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/orders", self.create_order, methods=["POST"]),
                Route("/v1/orders/{order_id}/payments", self.order_payments, methods=["GET"]),
                Route("/v1/payments/{payment_id}", self.get_payment, methods=["GET"]),
                Route("/v1/payments/{payment_id}/refund", self.refund, methods=["POST"]),
            ]
        )

    # ---------------------------------------------------------------- test controls
    def pay(self, order_id: str, *, captured: bool = True) -> tuple[str, str]:
        """Checkout finished: the payment id and the signature the client receives."""
        order = self.orders[order_id]
        payment_id = f"pay_{secrets.token_hex(7)}"
        self.payments[payment_id] = {
            "id": payment_id,
            "entity": "payment",
            "amount": order["amount"],
            "currency": order["currency"],
            "order_id": order_id,
            "status": "captured" if captured else "failed",
            "error_description": None if captured else "Payment failed",
        }
        return payment_id, self.checkout_signature(order_id, payment_id)

    def checkout_signature(self, order_id: str, payment_id: str) -> str:
        message = f"{order_id}|{payment_id}".encode()
        return hmac.new(self.key_secret.encode(), message, hashlib.sha256).hexdigest()

    def event(
        self, event_type: str, payment_id: str, refund: dict[str, Any] | None = None
    ) -> bytes:
        payload: dict[str, Any] = {"payment": {"entity": self.payments[payment_id]}}
        if refund:
            payload["refund"] = {"entity": refund}
        return orjson.dumps(
            {
                "entity": "event",
                "event": event_type,
                "contains": list(payload),
                "payload": payload,
                "created_at": int(time.time()),
            }
        )

    def sign(self, body: bytes, secret: str | None = None) -> str:
        key = (secret or self.webhook_secret).encode()
        return hmac.new(key, body, hashlib.sha256).hexdigest()
