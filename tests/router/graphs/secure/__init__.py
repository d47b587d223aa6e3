"""Accounts / billing with the authorization directives: @authenticated on fields, a
mutation and a type, @requiresScopes with alternatives, @policy."""

from __future__ import annotations

from typing import Any

USERS = {
    "u1": {
        "id": "u1",
        "name": "Ada Lovelace",
        "email": "ada@example.test",
        "internalNote": "VIP",
    },
    "u2": {"id": "u2", "name": "Alan Turing", "email": "alan@example.test", "internalNote": ""},
}
BILLING = {
    "u1": {"balance": 120, "invoices": [{"number": "A-1", "total": 100}]},
    "u2": {"balance": 0, "invoices": []},
}


def _rename(_: Any, __: Any, name: str) -> dict[str, Any]:
    return {**USERS["u1"], "name": name}


def _billing(rep: dict[str, Any]) -> dict[str, Any] | None:
    found = BILLING.get(rep["id"])
    return {"id": rep["id"], **found} if found is not None else None


RESOLVERS: dict[str, dict[str, dict[str, Any]]] = {
    "accounts": {
        "Query": {
            "me": lambda *_: USERS["u1"],
            "publicUser": lambda _, __, id: USERS.get(id),
            "adminStats": lambda *_: {"users": len(USERS)},
        },
        "Mutation": {"renameMe": _rename},
        "User": {"__resolve_reference": lambda rep: USERS.get(rep["id"])},
    },
    "billing": {"User": {"__resolve_reference": _billing}},
}
