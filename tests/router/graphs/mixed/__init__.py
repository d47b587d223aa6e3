"""Alpha / beta / gamma: shared value-type roots, value types reached through a parent
entity, conflicting field types across concrete types, @inaccessible types and enum values
met at runtime, two @requires of one field with different arguments."""

from __future__ import annotations

from typing import Any

CATEGORIES = {"k1": "Kitchen", "k2": "Garden"}
PRODUCTS = [{"id": "p1", "category": {"id": "k1"}}, {"id": "p2", "category": {"id": "k2"}}]
PRICES = {"p1": 10, "p2": 20}


def _price(product: dict[str, Any], _: Any, currency: str) -> int:
    base = PRICES[product["id"]]
    return base * 2 if currency == "USD" else base


RESOLVERS: dict[str, dict[str, dict[str, Any]]] = {
    "alpha": {
        "Query": {
            "shop": lambda *_: {"name": "Corner shop"},
            "products": lambda *_: PRODUCTS,
            "animals": lambda *_: [
                {"__typename": "Dog", "id": "d1", "name": "Rex", "mood": "HAPPY"},
                {"__typename": "Cat", "id": None, "name": "Tom"},
            ],
            "pets": lambda *_: [
                {"__typename": "Dog", "id": "d2", "name": "Fido", "mood": "SECRET"},
                {"__typename": "Robot", "serial": "R2"},
            ],
        },
        "Product": {
            "__resolve_reference": lambda rep: next(p for p in PRODUCTS if p["id"] == rep["id"]),
            "price": _price,
        },
    },
    "beta": {
        "Query": {"shop": lambda *_: {"address": "1 Main Street"}},
        "Product": {
            "__resolve_reference": lambda rep: next(p for p in PRODUCTS if p["id"] == rep["id"])
        },
        "Category": {"label": lambda category, _: CATEGORIES[category["id"]]},
    },
    "gamma": {
        "Product": {
            "usd": lambda product, _: f"${product['price']}",
            "eur": lambda product, _: f"EUR {product['price']}",
        },
    },
}
