"""The domain events as versioned contracts, one module per producer (docs/events.md).

A producer builds the payload model and hands it to `coursegraph.outbox.add`, so it
cannot write a payload its contract does not describe. A consumer calls `parse` on what
it receives: an unknown topic or version, or a payload that does not fit, raises
`InvalidEvent` (the durable consumer dead-letters it at once).

Evolving a contract: adding an optional field keeps the version (consumers ignore fields
they do not know: `extra="ignore"`); removing, renaming or retyping a field, or making
one required, is a new version, declared beside the old one until no producer writes it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from coursegraph.events import Event


class InvalidEvent(Exception):
    """An event no declared contract accepts."""


class EventPayload(BaseModel):
    """One version of one topic's payload; camelCase fields, ids as strings, money as
    minor units and an ISO-4217 currency."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    TOPIC: ClassVar[str]
    VERSION: ClassVar[int]
    # Internal events are one service's own deliveries to itself (its outbox handlers);
    # they are declared so they are validated too, but nobody else may consume them.
    INTERNAL: ClassVar[bool] = False

    def event_payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def entities(self) -> tuple[str, ...]:
        """What the event changed, as "Type:id" with the GraphQL type names: the envelope's
        `entities`, which the router's response cache drops (docs/caching.md)."""
        return ()


def _declared() -> list[type[EventPayload]]:
    from contracts.events import courses, files, notifications, payments, users

    found: list[type[EventPayload]] = []
    for module in (users, courses, payments, files, notifications):
        found.extend(module.EVENTS)
    return found


DECLARED: tuple[type[EventPayload], ...] = tuple(_declared())
# Every public (topic, version) → its payload model.
CONTRACTS: dict[tuple[str, int], type[EventPayload]] = {
    (model.TOPIC, model.VERSION): model for model in DECLARED if not model.INTERNAL
}
# Every public topic → its current (highest) version.
REGISTRY: dict[str, type[EventPayload]] = {
    topic: CONTRACTS[(topic, max(v for t, v in CONTRACTS if t == topic))] for topic, _ in CONTRACTS
}
INTERNAL_TOPICS: frozenset[str] = frozenset(m.TOPIC for m in DECLARED if m.INTERNAL)


def parse(event: Event) -> EventPayload:
    """The event's payload as its declared contract; `InvalidEvent` when none fits."""
    model = CONTRACTS.get((event.topic, event.version))
    if model is None:
        if event.topic in REGISTRY:
            raise InvalidEvent(f"{event.topic} has no version {event.version}")
        raise InvalidEvent(f"unknown topic {event.topic!r}")
    try:
        return model.model_validate(event.payload)
    except ValidationError as error:
        raise InvalidEvent(f"{event.topic} v{event.version}: {error}") from None


def validate(event: Event) -> None:
    """`parse` for `ConsumerSpec.validate`."""
    parse(event)


def entities_of(event: Event) -> tuple[str, ...]:
    """The `entities` of an event about to be published (the outbox relay's hook); none for
    an internal topic or a payload its contract refuses (its consumers will say so)."""
    model = CONTRACTS.get((event.topic, event.version))
    if model is None:
        return ()
    try:
        return model.model_validate(event.payload).entities()
    except ValidationError:
        return ()
