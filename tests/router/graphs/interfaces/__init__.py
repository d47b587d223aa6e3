"""Media / stats / shop: interfaces and unions spread over subgraphs, @interfaceObject."""

from __future__ import annotations

from typing import Any

MEDIA = {
    "b1": {"__typename": "Book", "id": "b1", "title": "Dune", "pages": 412},
    "v1": {"__typename": "Video", "id": "v1", "title": "Alien", "duration": 117, "stars": 1},
    "b2": {"__typename": "Book", "id": "b2", "title": "Emma", "pages": 474},
}
AUTHORS = {"a1": {"__typename": "Author", "id": "a1", "name": "Frank Herbert"}}
VIEWS = {"b1": 1000, "v1": 2500, "b2": 10}
PRICES = {"b1": 12, "b2": 9}


def _media_ref(rep: dict[str, Any]) -> dict[str, Any] | None:
    return MEDIA.get(rep["id"])


RESOLVERS: dict[str, dict[str, dict[str, Any]]] = {
    "media": {
        "Query": {
            "library": lambda *_: list(MEDIA.values()),
            "search": lambda _, __, term: [MEDIA["b1"], AUTHORS["a1"], MEDIA["v1"]],
        },
        "Media": {"__resolve_reference": _media_ref},
        "Book": {"__resolve_reference": _media_ref},
        "Video": {"__resolve_reference": _media_ref},
        "Author": {"__resolve_reference": lambda rep: AUTHORS.get(rep["id"])},
    },
    "stats": {
        "Query": {
            "popular": lambda *_: [
                {"id": k, "views": v} for k, v in sorted(VIEWS.items(), key=lambda kv: -kv[1])
            ]
        },
        "Media": {
            "__resolve_reference": lambda rep: {"id": rep["id"], "views": VIEWS.get(rep["id"])}
        },
    },
    "ratings": {
        "Media": {"__resolve_reference": lambda rep: {"id": rep["id"], "stars": 5}},
    },
    "shop": {
        "Query": {
            "cart": lambda *_: [
                {"__typename": "Book", "id": "b2", "price": PRICES["b2"]},
                {"__typename": "Gift", "name": "Gift card"},
                None,
            ]
        },
        "Book": {
            "__resolve_reference": lambda rep: {"id": rep["id"], "price": PRICES.get(rep["id"])}
        },
    },
}
