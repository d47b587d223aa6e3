"""Accounts / products / inventory / reviews: the benchmark's shape, entities and keys."""

from __future__ import annotations

from typing import Any

USERS = {
    "u1": {"id": "u1", "name": "Ada Lovelace", "username": "@ada", "birthYear": 1815},
    "u2": {"id": "u2", "name": "Alan Turing", "username": "@complete", "birthYear": 1912},
    "u3": {"id": "u3", "name": "Grace Hopper", "username": "@grace", "birthYear": 1906},
}
PRODUCTS = {
    "1": {"upc": "1", "sku": "s-table", "name": "Table", "price": 899, "weight": 100},
    "2": {"upc": "2", "sku": "s-couch", "name": "Couch", "price": 1299, "weight": 1000},
    "3": {"upc": "3", "sku": "s-chair", "name": "Chair", "price": 54, "weight": 50},
}
BY_SKU = {p["sku"]: p for p in PRODUCTS.values()}
STOCK = {"1": True, "2": False, "3": True}
REVIEWS = {
    "r1": {"id": "r1", "body": "Love it!", "author": "u1", "product": "s-table"},
    "r2": {"id": "r2", "body": "Too expensive.", "author": "u2", "product": "s-couch"},
    "r3": {"id": "r3", "body": "Could be better.", "author": "u1", "product": "s-chair"},
    "r4": {"id": "r4", "body": "Prefer something else.", "author": "u3", "product": "s-table"},
}


def _review(review: dict[str, Any]) -> dict[str, Any]:
    author = USERS[review["author"]]
    return {
        "id": review["id"],
        "body": review["body"],
        "author": {"id": author["id"], "username": author["username"]},
        "product": {"sku": review["product"]},
    }


def _top_products(_: Any, __: Any, first: int = 5) -> list[dict[str, Any]]:
    return list(PRODUCTS.values())[:first]


RESOLVERS: dict[str, dict[str, dict[str, Any]]] = {
    "accounts": {
        "Query": {
            "me": lambda *_: USERS["u1"],
            "user": lambda _, __, id: USERS.get(id),
            "users": lambda *_: list(USERS.values()),
        },
        "User": {"__resolve_reference": lambda rep: USERS.get(rep["id"])},
    },
    "products": {
        "Query": {
            "topProducts": _top_products,
            "product": lambda _, __, upc: PRODUCTS.get(upc),
        },
        "Product": {
            "__resolve_reference": lambda rep: (
                PRODUCTS.get(rep["upc"]) if "upc" in rep else BY_SKU.get(rep["sku"])
            )
        },
    },
    "inventory": {
        "Product": {
            "__resolve_reference": lambda rep: {**rep, "inStock": STOCK.get(rep["upc"])},
            "shippingEstimate": lambda obj, _: 0 if obj["price"] > 1000 else obj["weight"] // 2,
        },
    },
    "reviews": {
        "Query": {"review": lambda _, __, id: _review(REVIEWS[id]) if id in REVIEWS else None},
        "Review": {"__resolve_reference": lambda rep: _review(REVIEWS[rep["id"]])},
        "User": {
            "__resolve_reference": lambda rep: {"id": rep["id"]},
            "reviews": lambda obj, _: [
                _review(r) for r in REVIEWS.values() if r["author"] == obj["id"]
            ],
        },
        "Product": {
            "__resolve_reference": lambda rep: {"sku": rep["sku"]},
            "reviews": lambda obj, _: [
                _review(r) for r in REVIEWS.values() if r["product"] == obj["sku"]
            ],
        },
    },
}
