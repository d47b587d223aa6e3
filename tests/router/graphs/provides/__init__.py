"""Zoo / vet / kennel: @provides on an interface-typed root field, @override of a field
that @requires."""

from __future__ import annotations

from typing import Any

DOGS = {"d1": {"__typename": "Dog", "id": "d1", "name": "Rex", "age": 3}}


def _media(*_: Any) -> dict[str, Any]:
    return {"__typename": "Book", "id": "m1", "animals": [DOGS["d1"]]}


RESOLVERS: dict[str, dict[str, dict[str, Any]]] = {
    "zoo": {
        "Query": {"media": _media},
    },
    "vet": {
        "Query": {"media": _media},
        "Dog": {
            "__resolve_reference": lambda rep: DOGS.get(rep["id"]),
            "greeting": lambda *_: "overridden: never used",
        },
    },
    "kennel": {
        "Dog": {
            "__resolve_reference": lambda rep: {**rep, "name": DOGS[rep["id"]]["name"]},
            "greeting": lambda dog, _: f"Woof, I am {dog['age']}",
        },
    },
}
