"""Events of the users subgraph."""

from __future__ import annotations

from typing import ClassVar, Literal

from contracts.events import EventPayload

Role = Literal["STUDENT", "TEACHER", "ADMIN"]


class UserRegistered(EventPayload):
    """An account was created (sign-up, or demo seeding through the service layer)."""

    TOPIC: ClassVar[str] = "user.registered"
    VERSION: ClassVar[int] = 1
    userId: str
    email: str
    name: str
    role: Role

    def entities(self) -> tuple[str, ...]:
        return (f"User:{self.userId}",)


class UserUpdated(EventPayload):
    """What others see of an account changed: its profile (name), its role, or it was
    deleted."""

    TOPIC: ClassVar[str] = "user.updated"
    VERSION: ClassVar[int] = 1
    userId: str
    change: Literal["profile", "role", "deleted"]

    def entities(self) -> tuple[str, ...]:
        return (f"User:{self.userId}",)


EVENTS: tuple[type[EventPayload], ...] = (UserRegistered, UserUpdated)
