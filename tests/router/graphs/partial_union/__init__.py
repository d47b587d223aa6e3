"""The federation gateway audit's `partial-union` suite: `Response` is a @shareable value
type in a and b, whose union `Action` has all three members only in a. Only a resolves
`getResponse`, so every member must be kept. Subgraphs and data as in the audit."""

from __future__ import annotations

from typing import Any

ALPHA = {"__typename": "Alpha", "id": "alpha-1", "value": "alpha value"}
BETA = {"__typename": "Beta", "id": "beta-1", "name": "beta name", "details": "beta details"}
GAMMA = {"__typename": "Gamma", "id": "gamma-1", "label": "gamma label"}
MESSAGE = "Hello, Federation!"
ACTIONS = [ALPHA, BETA, GAMMA]

RESOLVERS: dict[str, dict[str, dict[str, Any]]] = {
    "a": {"Query": {"getResponse": lambda *_: {"message": MESSAGE, "actions": ACTIONS}}},
    "b": {},
}
