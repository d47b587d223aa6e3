"""@context / @fromContext: a product's price takes the currency of the nearest enclosing
shop or department (`money`), its shipping the region of the enclosing shop (`place`),
which only geo resolves. Product p1 is sold by both shops, so one entity gets two
different prices in one answer; geo's `nearbyShops` enters the graph from another
subgraph."""

from __future__ import annotations

from typing import Any

SHOPS: dict[str, dict[str, Any]] = {
    "s1": {"id": "s1", "currency": "USD", "products": ["p1", "p2"], "departments": ["d1"]},
    "s2": {"id": "s2", "currency": "EUR", "products": ["p1", "p3"], "departments": []},
}
DEPARTMENTS: dict[str, dict[str, Any]] = {"d1": {"id": "d1", "currency": "GBP", "products": ["p2"]}}
PRODUCTS: dict[str, dict[str, Any]] = {
    "p1": {"id": "p1", "name": "Pen", "amount": 3},
    "p2": {"id": "p2", "name": "Book", "amount": 12},
    "p3": {"id": "p3", "name": "Lamp", "amount": 40},
}
BULK = {
    f"b{n}": {"id": f"b{n}", "currency": f"C{n}", "products": ["p1"], "departments": []}
    for n in range(40)
}
SHOPS.update(BULK)
REGIONS = {"s1": "eu-west", "s2": "us-east"} | {key: "bulk" for key in BULK}


def _product(key: str) -> dict[str, Any]:
    return {"__typename": "Product", **PRODUCTS[key]}


def _price(product: dict[str, Any], _: Any, currency: str | None = None) -> str:
    return f"{product['amount']} {currency or '(no currency)'}"


def _shipping(_: dict[str, Any], __: Any, region: str | None = None) -> str:
    return f"ships from {region or '(nowhere)'}"


RESOLVERS: dict[str, dict[str, dict[str, Any]]] = {
    "catalog": {
        "Query": {
            "shops": lambda *_: [SHOPS["s1"], SHOPS["s2"]],
            "bulk": lambda *_: list(BULK.values()),
            "shop": lambda _, __, id: SHOPS.get(id),
        },
        "Shop": {
            "__resolve_reference": lambda rep: SHOPS[rep["id"]],
            "products": lambda shop, _: [_product(p) for p in shop["products"]],
            "departments": lambda shop, _: [DEPARTMENTS[d] for d in shop["departments"]],
        },
        "Department": {
            "__resolve_reference": lambda rep: DEPARTMENTS[rep["id"]],
            "products": lambda department, _: [_product(p) for p in department["products"]],
        },
        "Product": {
            "__resolve_reference": lambda rep: PRODUCTS[rep["id"]],
            "price": _price,
            "shipping": _shipping,
        },
    },
    "geo": {
        "Query": {"nearbyShops": lambda *_: [{"id": "s2", "region": REGIONS["s2"]}]},
        "Shop": {
            "__resolve_reference": lambda rep: {"id": rep["id"], "region": REGIONS[rep["id"]]}
        },
    },
}
