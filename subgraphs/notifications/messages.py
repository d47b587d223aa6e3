"""What each event tells whom: a `Draft` (the in-app notification and, where the kind has
one, the mail), and the mail rendered from Jinja2 templates (`templates/`, HTML
autoescaped, plain text beside it).

Paid enrollments: `enrollment.created` says nothing when the enrollment came with a
payment (and `enrollment.dropped` nothing when a refund dropped it) — the receipt and the
refund confirmation already tell the student, so they are not told twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from coursegraph.money import display
from subgraphs.notifications.models import Category, Kind

TEMPLATES = Path(__file__).parent / "templates"

# Kinds with an in-app notification only.
IN_APP_ONLY: frozenset[Kind] = frozenset({Kind.ENROLLMENT_DROPPED})


@dataclass(frozen=True, slots=True)
class Facts:
    """What a notification is about; stored as typed columns."""

    course_id: str | None = None
    course_title: str | None = None
    payment_id: str | None = None
    amount_minor: int | None = None
    currency: str | None = None
    certificate_code: str | None = None
    lecture_id: str | None = None
    reason: str | None = None

    @property
    def amount(self) -> str | None:
        if self.amount_minor is None or self.currency is None:
            return None
        return display(self.amount_minor, self.currency)


@dataclass(frozen=True, slots=True)
class Draft:
    user_id: str
    kind: Kind
    category: Category
    title: str  # the mail's subject too
    body: str  # one or two sentences, for the in-app list
    path: str | None  # in the web app
    facts: Facts = field(default_factory=Facts)

    @property
    def has_mail(self) -> bool:
        return self.kind not in IN_APP_ONLY


@dataclass(frozen=True, slots=True)
class RenderedMail:
    subject: str
    text: str
    html: str


def _course(course_id: str) -> str:
    return f"/courses/{quote(course_id, safe='')}"


def welcome(user_id: str, name: str) -> Draft:
    return Draft(
        user_id,
        Kind.WELCOME,
        Category.ACCOUNT,
        "Welcome to Coursegraph",
        f"Welcome, {name}! Find a course to start with.",
        "/courses",
    )


def enrolled(user_id: str, course_id: str, course_title: str) -> Draft:
    return Draft(
        user_id,
        Kind.ENROLLED,
        Category.LEARNING,
        f"You're in: {course_title}",
        f"You are enrolled in {course_title}. Start with the first lecture.",
        _course(course_id),
        Facts(course_id=course_id, course_title=course_title),
    )


def completed(user_id: str, course_id: str, course_title: str) -> Draft:
    return Draft(
        user_id,
        Kind.COURSE_COMPLETED,
        Category.LEARNING,
        f"You finished {course_title}",
        f"You completed {course_title}. Your certificate is on its way.",
        _course(course_id),
        Facts(course_id=course_id, course_title=course_title),
    )


def dropped(user_id: str, course_id: str, course_title: str) -> Draft:
    return Draft(
        user_id,
        Kind.ENROLLMENT_DROPPED,
        Category.LEARNING,
        f"You left {course_title}",
        f"Your enrollment in {course_title} has ended.",
        _course(course_id),
        Facts(course_id=course_id, course_title=course_title),
    )


def certificate(user_id: str, course_id: str, course_title: str, code: str) -> Draft:
    return Draft(
        user_id,
        Kind.CERTIFICATE_ISSUED,
        Category.LEARNING,
        f"Your certificate for {course_title}",
        f"Congratulations! Your certificate for {course_title} is ready; "
        f"its verification code is {code}.",
        f"/certificates/{quote(code, safe='')}",
        Facts(course_id=course_id, course_title=course_title, certificate_code=code),
    )


def receipt(user_id: str, payment_id: str, course_id: str, minor: int, currency: str) -> Draft:
    facts = Facts(course_id=course_id, payment_id=payment_id, amount_minor=minor, currency=currency)
    return Draft(
        user_id,
        Kind.PAYMENT_RECEIPT,
        Category.PAYMENTS,
        "Your receipt",
        f"We received your payment of {facts.amount}.",
        _course(course_id),
        facts,
    )


def payment_failed(
    user_id: str, payment_id: str, course_id: str, minor: int, currency: str, reason: str | None
) -> Draft:
    facts = Facts(
        course_id=course_id,
        payment_id=payment_id,
        amount_minor=minor,
        currency=currency,
        reason=reason,
    )
    return Draft(
        user_id,
        Kind.PAYMENT_FAILED,
        Category.PAYMENTS,
        "Your payment did not go through",
        f"Your payment of {facts.amount} failed"
        + (f": {reason}." if reason else ".")
        + " You can try again.",
        _course(course_id),
        facts,
    )


def refunded(user_id: str, payment_id: str, course_id: str, minor: int, currency: str) -> Draft:
    facts = Facts(course_id=course_id, payment_id=payment_id, amount_minor=minor, currency=currency)
    return Draft(
        user_id,
        Kind.REFUND_CONFIRMED,
        Category.PAYMENTS,
        "Your refund",
        f"We refunded {facts.amount} to your original payment method.",
        _course(course_id),
        facts,
    )


def video_ready(user_id: str, lecture_id: str) -> Draft:
    return Draft(
        user_id,
        Kind.VIDEO_READY,
        Category.VIDEO,
        "Your lecture video is ready",
        "Your lecture video was processed and can be watched now.",
        f"/studio/lectures/{quote(lecture_id, safe='')}",
        Facts(lecture_id=lecture_id),
    )


def video_failed(user_id: str, lecture_id: str, reason: str | None) -> Draft:
    return Draft(
        user_id,
        Kind.VIDEO_FAILED,
        Category.VIDEO,
        "Your lecture video could not be processed",
        "Your lecture video could not be processed"
        + (f": {reason}." if reason else ".")
        + " Please upload it again.",
        f"/studio/lectures/{quote(lecture_id, safe='')}",
        Facts(lecture_id=lecture_id, reason=reason),
    )


class MailTemplates:
    """HTML (autoescaped) and plain-text bodies of each kind of mail."""

    def __init__(self, app_url: str) -> None:
        self._app_url = app_url.rstrip("/")
        self._env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"], default_for_string=False),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )

    def link(self, draft: Draft) -> str | None:
        return f"{self._app_url}{draft.path}" if draft.path is not None else None

    def render(self, draft: Draft, name: str, unsubscribe_url: str | None) -> RenderedMail:
        context: dict[str, Any] = {
            "name": name,
            "title": draft.title,
            "facts": draft.facts,
            "link": self.link(draft),
            "app_url": self._app_url,
            "unsubscribe_url": unsubscribe_url,
        }
        stem = draft.kind.value.lower()
        return RenderedMail(
            subject=draft.title,
            text=self._env.get_template(f"{stem}.txt").render(context),
            html=self._env.get_template(f"{stem}.html").render(context),
        )
