"""Opaque keyset cursors for the catalog.

A cursor is the sort key of the last row seen, base64url-encoded JSON: the next page
starts strictly after it (`WHERE (key) < (cursor)`), so pages never shift or skip rows
as courses are added, and no OFFSET scan grows with the page number.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

import orjson

from coursegraph.errors import BadUserInput


@dataclass(frozen=True, slots=True)
class CourseCursor:
    created_at: datetime
    id: uuid.UUID
    # The search rank when the page is ordered by relevance, else None.
    rank: float | None = None

    def encode(self, listing: str) -> str:
        raw = {"l": listing, "c": self.created_at.isoformat(), "i": str(self.id)}
        if self.rank is not None:
            raw["r"] = repr(self.rank)
        return base64.urlsafe_b64encode(orjson.dumps(raw)).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str, listing: str) -> CourseCursor:
        """Parse a cursor that `encode` made for the same `listing` (filters)."""
        try:
            padded = value + "=" * (-len(value) % 4)
            raw = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
            created_at = datetime.fromisoformat(raw["c"])
            rank = float(raw["r"]) if "r" in raw else None
            cursor = cls(created_at=created_at, id=uuid.UUID(raw["i"]), rank=rank)
            same_listing = raw["l"] == listing
        except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise BadUserInput("The cursor is not valid.", field="after") from None
        if not same_listing or created_at.tzinfo is None:
            # A position in one listing means nothing in a listing with other filters.
            raise BadUserInput("The cursor belongs to a different listing.", field="after")
        return cursor


def listing_key(*filters: object) -> str:
    """A short fingerprint of a listing's filters, carried inside its cursors."""
    return hashlib.sha256(orjson.dumps([str(f) for f in filters])).hexdigest()[:12]
