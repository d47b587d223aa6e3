"""Type aliases shared across the router package."""

from __future__ import annotations

from typing import Any

JSONObject = dict[str, Any]
# A response path: field response keys and list indexes, as GraphQL errors carry it.
ResponsePath = list[str | int]
# A plan path: response keys, with "@" where a list is flattened.
PlanPath = tuple[str, ...]
