"""The event contracts: what they accept, what they refuse, how envelopes decode."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest
from pydantic import ValidationError

from contracts import events
from contracts.events import InvalidEvent, parse
from contracts.events.courses import CertificateIssued, EnrollmentCreated
from contracts.events.files import VideoFailed
from contracts.events.payments import PaymentSucceeded
from coursegraph.events import Event, decode_nats_message, encode

ISSUE_15_TOPICS = {
    "enrollment.created",
    "enrollment.completed",
    "enrollment.dropped",
    "payment.succeeded",
    "payment.failed",
    "payment.refunded",
    "certificate.issued",
    "video.ready",
    "video.failed",
    "user.registered",
}
# Issue 18: what catalog pages show changed (the router's response cache drops it).
ISSUE_18_TOPICS = {"course.updated", "user.updated"}


def _succeeded(**changes: object) -> dict[str, object]:
    payload: dict[str, object] = {
        "paymentId": str(uuid.uuid4()),
        "userId": str(uuid.uuid4()),
        "courseId": str(uuid.uuid4()),
        "amountMinor": 1999,
        "currency": "USD",
        "provider": "SANDBOX",
    }
    payload.update(changes)
    return payload


def _event(topic: str, payload: dict[str, object], version: int = 1) -> Event:
    return Event(id=str(uuid.uuid4()), topic=topic, payload=payload, version=version)


def test_every_event_of_the_issue_is_declared_once() -> None:
    # Issue 16: every payment status change is announced (subscriptions wait on them).
    assert set(events.REGISTRY) == ISSUE_15_TOPICS | ISSUE_18_TOPICS | {"payment.canceled"}
    topics = [(m.TOPIC, m.VERSION) for m in events.DECLARED]
    assert len(topics) == len(set(topics))
    assert {
        "payment.unkept",
        "sandbox.webhook",
        "notification.added",
    } == events.INTERNAL_TOPICS


def test_a_valid_event_parses_into_its_model() -> None:
    parsed = parse(_event("payment.succeeded", _succeeded()))
    assert isinstance(parsed, PaymentSucceeded)
    assert parsed.amountMinor == 1999


def test_consumers_tolerate_fields_added_later() -> None:
    parsed = parse(_event("payment.succeeded", _succeeded(couponCode="X")))
    assert "couponCode" not in parsed.event_payload()


@pytest.mark.parametrize(
    ("event", "why"),
    [
        (_event("payment.exploded", _succeeded()), "unknown topic"),
        (_event("payment.succeeded", _succeeded(), version=2), "has no version 2"),
        (_event("payment.succeeded", _succeeded(amountMinor=-5)), "amountMinor"),
        (_event("payment.succeeded", _succeeded(amountMinor=19.99)), "amountMinor"),
        (_event("payment.succeeded", _succeeded(currency="usd")), "currency"),
        (_event("payment.succeeded", _succeeded(provider="PAYPAL")), "provider"),
        (_event("payment.succeeded", {"paymentId": "p"}), "userId"),
        (_event("payment.unkept", {"paymentId": "p"}), "unknown topic"),
    ],
)
def test_what_no_contract_accepts_is_an_invalid_event(event: Event, why: str) -> None:
    with pytest.raises(InvalidEvent, match=why):
        parse(event)


def test_a_producer_cannot_build_an_invalid_payload() -> None:
    with pytest.raises(ValidationError):
        EnrollmentCreated(
            enrollmentId="e",
            userId="u",
            courseId="c",
            courseTitle="t",
            paymentId=None,
            status="LOST",
        )
    with pytest.raises(ValidationError):
        CertificateIssued(enrollmentId="e")  # type: ignore[call-arg]


def test_payloads_are_frozen_json() -> None:
    failed = VideoFailed(
        fileId="f",
        ownerId="lecture",
        purpose="lecture_video",
        uploadedBy="teacher",
        status="FAILED",
        durationSeconds=None,
        failureReason="not a video",
        recordedAt=datetime(2026, 12, 6, tzinfo=UTC),
    )
    with pytest.raises(ValidationError):
        failed.fileId = "other"  # type: ignore[misc]
    assert failed.event_payload()["recordedAt"] == "2026-12-06T00:00:00Z"
    assert (failed.TOPIC, failed.VERSION) == ("video.failed", 1)


def test_envelopes_round_trip_and_old_ones_are_version_1() -> None:
    event = _event("payment.succeeded", _succeeded(), version=3)
    assert decode_nats_message(encode(event)) == event
    stored_at = datetime(2026, 1, 1, tzinfo=UTC)
    old = orjson.dumps({"id": "1", "topic": "payment.succeeded", "payload": _succeeded()})
    decoded = decode_nats_message(old, received_at=stored_at)
    assert (decoded.version, decoded.occurred_at) == (1, stored_at)


def test_events_name_what_they_changed_for_the_response_cache() -> None:
    payload = _succeeded()
    assert events.entities_of(_event("payment.refunded", {**payload, "refundId": "r"})) == (
        f"Payment:{payload['paymentId']}",
        f"User:{payload['userId']}",
        f"Course:{payload['courseId']}",
    )
    course = _event(
        "course.updated",
        {"courseId": "c", "teacherId": "t", "change": "video", "lectureId": "l"},
    )
    assert events.entities_of(course) == ("Course:c", "Lecture:l")
    assert events.entities_of(_event("user.updated", {"userId": "u", "change": "profile"})) == (
        "User:u",
    )
    # Internal topics, unknown ones and refused payloads name nothing.
    assert events.entities_of(_event("payment.unkept", {"paymentId": "p"})) == ()
    assert events.entities_of(_event("payment.exploded", payload)) == ()
    assert events.entities_of(_event("payment.succeeded", {"paymentId": "p"})) == ()


def test_the_envelope_carries_the_entities() -> None:
    event = Event(id="1", topic="course.updated", payload={}, entities=("Course:c",))
    assert orjson.loads(encode(event))["entities"] == ["Course:c"]
    assert decode_nats_message(encode(event)).entities == ("Course:c",)
