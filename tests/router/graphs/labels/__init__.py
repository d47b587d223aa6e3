"""Progressive @override: each of Item's fields moves from old to new behind a label of
its own (`percent(50)`, `percent(0)`, `percent(100)`, `beta`, `rename`); old answers 1 /
"old" / "Widget", new 2 / "new" / "Widget 2", so an answer shows which subgraph resolved
each field."""

from __future__ import annotations

from typing import Any

OLD = {"id": "i1", "name": "Widget", "stock": 1, "rating": 1, "price": 1, "flag": "old"}
NEW = {"id": "i1", "name": "Widget 2", "stock": 2, "rating": 2, "price": 2, "flag": "new"}

RESOLVERS: dict[str, dict[str, dict[str, Any]]] = {
    "old": {
        "Query": {"item": lambda _, __, id: {"__typename": "Item", **OLD} if id == "i1" else None},
        "Item": {"__resolve_reference": lambda rep: OLD},
    },
    "new": {"Item": {"__resolve_reference": lambda rep: NEW}},
}
