"""The federation gateway audit's `partial-union-complex` suite: `Wrapper.actions` is
@shareable in a and b, but its union `Action` has different members in each (OnlyA in a,
OnlyB in b). Subgraphs and data as in the audit."""

from __future__ import annotations

from typing import Any

COMMON = {"__typename": "Common", "label": "common label"}
ONLY_A = {"__typename": "OnlyA", "a": "only a"}
ONLY_B = {"__typename": "OnlyB", "b": "only b"}
CONTAINER_ID = "container-1"
A_ACTIONS = [COMMON, ONLY_A]
B_ACTIONS = [COMMON, ONLY_B]
SHARED_ACTIONS = [COMMON]


def _container(actions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": CONTAINER_ID, "actions": actions}


def _reference(actions: list[dict[str, Any]]) -> Any:
    def resolve(rep: dict[str, Any]) -> dict[str, Any] | None:
        return _container(actions) if rep["id"] == CONTAINER_ID else None

    return resolve


def _wrapper(default: list[dict[str, Any]]) -> Any:
    return lambda parent, _: {"actions": parent.get("actions", default)}


RESOLVERS: dict[str, dict[str, dict[str, Any]]] = {
    "a": {
        "Query": {
            "rootA": lambda *_: _container(A_ACTIONS),
            "shared": lambda *_: _container(SHARED_ACTIONS),
        },
        "Container": {"__resolve_reference": _reference(A_ACTIONS), "wrapper": _wrapper(A_ACTIONS)},
    },
    "b": {
        "Query": {
            "rootB": lambda *_: _container(B_ACTIONS),
            "shared": lambda *_: _container(SHARED_ACTIONS),
        },
        "Container": {
            "__resolve_reference": _reference(B_ACTIONS),
            "wrapper": _wrapper(B_ACTIONS),
            "bWrapper": lambda *_: {"actions": B_ACTIONS},
        },
    },
}
