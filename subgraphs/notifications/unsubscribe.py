"""One-click unsubscribe links (RFC 8058): a token per (user, category), signed with the
kernel's HMAC helper under a key of its own. Tokens do not expire: a link in an old mail
must keep working, and what it can do (switch one category's email off) is harmless."""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

from coursegraph.errors import BadUserInput
from coursegraph.service_auth import compute_signature
from subgraphs.notifications.models import TRANSACTIONAL, Category

TOKEN_VERSION = "1"
KEY_PURPOSE = "notifications-unsubscribe"
PATH = "/unsubscribe"


@dataclass(frozen=True, slots=True)
class Unsubscription:
    user_id: uuid.UUID
    category: Category


class UnsubscribeLinks:
    def __init__(self, key: bytes, public_url: str) -> None:
        self._key = key
        self._base = public_url.rstrip("/")

    def token(self, user_id: str, category: Category) -> str:
        return f"{TOKEN_VERSION}.{user_id}.{category.value}.{self._signature(user_id, category)}"

    def url(self, user_id: str, category: Category) -> str:
        return f"{self._base}{PATH}?{urlencode({'token': self.token(user_id, category)})}"

    def verify(self, token: str) -> Unsubscription:
        """The (user, category) a token was made for; BadUserInput for anything else."""
        refused = BadUserInput("This unsubscribe link is not valid.", field="token")
        parts = token.split(".")
        if len(parts) != 4 or parts[0] != TOKEN_VERSION:
            raise refused
        _, user_id, category_name, signature = parts
        try:
            user = uuid.UUID(user_id)
            category = Category(category_name)
        except ValueError:
            raise refused from None
        expected = self._signature(user_id, category)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise refused
        if category in TRANSACTIONAL:
            raise refused  # never issued: transactional mail has no unsubscribe link
        return Unsubscription(user, category)

    def _signature(self, user_id: str, category: Category) -> str:
        canonical = f"unsubscribe\n{user_id}\n{category.value}".encode()
        return compute_signature(self._key, canonical).removeprefix("v1=")
