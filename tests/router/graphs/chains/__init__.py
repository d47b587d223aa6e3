"""Users / billing / offers / legacy: @requires chains, keys fetched from a third subgraph,
mutations followed by entity fetches."""

from __future__ import annotations

from typing import Any

USERS: dict[str, dict[str, Any]] = {
    "u1": {"id": "u1", "name": "Ada", "tier": "gold"},
    "u2": {"id": "u2", "name": "Alan", "tier": None},
}
DISCOUNTS = {"gold": 20}
NUMBERS = {"a1": "N-001", "a2": "N-002"}
FLAGGED = {"N-001": True, "N-002": False}


def _create_user(_: Any, __: Any, name: str) -> dict[str, Any]:
    user = {"id": f"u{len(USERS) + 1}", "name": name, "tier": "gold"}
    USERS[user["id"]] = user
    return user


RESOLVERS: dict[str, dict[str, dict[str, Any]]] = {
    "users": {
        "Query": {
            "user": lambda _, __, id: USERS.get(id),
            "accounts": lambda *_: [
                {"uid": "a1", "owner": USERS["u1"]},
                {"uid": "a2", "owner": USERS["u2"]},
            ],
        },
        "Mutation": {"createUser": _create_user},
        "User": {"__resolve_reference": lambda rep: USERS.get(rep["id"])},
        "Account": {"__resolve_reference": lambda rep: {"uid": rep["uid"]}},
    },
    "billing": {
        "User": {
            "__resolve_reference": lambda rep: rep,
            "discount": lambda user, _: DISCOUNTS.get(user["tier"] or "", 0),
        },
        "Account": {
            "__resolve_reference": lambda rep: (
                {"uid": rep["uid"], "number": NUMBERS[rep["uid"]]}
                if "uid" in rep
                else {
                    "uid": next(u for u, n in NUMBERS.items() if n == rep["number"]),
                    "number": rep["number"],
                }
            )
        },
    },
    "offers": {
        "User": {
            "__resolve_reference": lambda rep: rep,
            "offer": lambda user, _: f"{user['discount']}% off",
        },
    },
    "legacy": {
        "Account": {
            "__resolve_reference": lambda rep: {
                "number": rep["number"],
                "flagged": FLAGGED.get(rep["number"]),
            }
        },
    },
}
