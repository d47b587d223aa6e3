"""The projection's fast path (`Projector.object`) against its field-by-field walk
(`Projector.walk`), the reference: same data, same errors in the same order, whatever is
null where. No servers: the projection is pure."""

from __future__ import annotations

import copy
import importlib.util
import itertools
import sys
from types import ModuleType
from typing import Any

from graphql import OperationDefinitionNode, build_schema, parse

from router import native
from router.projection import INVALID, Compiler, Projector

SDL = """
type Query { a: A, list: [B!]!, typed: Named }
type A { obj: B, req: String!, opt: Int, many: [B], strict: B!, tags: [String!] }
type B { x: String!, y: String }
interface Named { name: String! }
type N1 implements Named { name: String!, n1: Int! }
type N2 implements Named { name: String! }
"""
QUERY = """
{
  a { obj { x y } req opt many { y x } strict { x } tags __typename }
  list { x y }
  typed { __typename name ... on N1 { n1 } }
}
"""
FULL: dict[str, Any] = {
    "a": {
        "obj": {"x": "x0", "y": "y0"},
        "req": "r",
        "opt": 1,
        "many": [{"x": "x1", "y": None}, None, {"x": "x2", "y": "y2"}],
        "strict": {"x": "x3"},
        "tags": ["t1", "t2"],
        "__typename": "A",
        "routerKey": "dropped",
    },
    "list": [{"x": "x4", "y": "y4"}, {"x": "x5", "y": None}],
    "typed": {"__typename": "N1", "name": "n", "n1": 7},
}
# Places a null may land (a path of keys and indexes into FULL).
NULLABLE_SPOTS: list[tuple[str | int, ...]] = [
    ("a", "obj", "x"),
    ("a", "req"),
    ("a", "many", 0, "x"),
    ("a", "strict"),
    ("a", "strict", "x"),
    ("a", "tags", 1),
    ("list", 1, "x"),
    ("typed", "n1"),
    ("typed", "name"),
]


def _interpreted() -> ModuleType:
    """router/projection.py run by the interpreter even when the router is compiled: only an
    interpreted class may subclass it."""
    spec = importlib.util.spec_from_file_location(
        "projection_reference", native.source("router.projection")
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


REFERENCE = _interpreted()


def _outcome(result: Any) -> Any:
    """A null that reached the top (each module has its own INVALID marker), or the data."""
    return "INVALID" if result is INVALID or result is REFERENCE.INVALID else result


class Reference(REFERENCE.Projector):  # type: ignore[name-defined]
    """Field by field at every level, as the projection was before its fast path."""

    def object(self, compiled: Any, src: dict[str, Any], path: Any) -> Any:
        return self.walk(compiled, src, path)


def _compiled() -> Any:
    schema = build_schema(SDL)
    document = parse(QUERY)
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    return Compiler(schema, schema, {}, {}).compile(operation)


def _with_nulls(spots: tuple[tuple[str | int, ...], ...]) -> dict[str, Any]:
    data = copy.deepcopy(FULL)
    for spot in spots:
        target: Any = data
        for key in spot[:-1]:
            target = target[key] if target is not None else None
        if target is not None:  # else an enclosing spot is null already
            target[spot[-1]] = None
    return data


def test_fast_path_and_walk_agree_for_every_pair_of_nulls() -> None:
    compiled = _compiled()
    cases = [(), *((s,) for s in NULLABLE_SPOTS), *itertools.combinations(NULLABLE_SPOTS, 2)]
    for spots in cases:
        data = _with_nulls(spots)
        fast = Projector([])
        walked = Reference([])
        expected = _outcome(walked.object(compiled, copy.deepcopy(data), None))
        assert _outcome(fast.object(compiled, data, None)) == expected, spots
        assert fast.errors == walked.errors, spots


def test_a_null_leaf_after_a_nulled_object_keeps_both_errors_in_order() -> None:
    data = _with_nulls((("a", "obj", "x"), ("a", "req")))
    projector = Projector([])
    result = projector.run(_compiled(), data)
    assert result is not None
    assert result["a"] is None
    assert [e["path"] for e in projector.errors] == [["a", "obj", "x"], ["a", "req"]]
    assert {e["extensions"]["code"] for e in projector.errors} == {"INTERNAL_SERVER_ERROR"}


def test_fields_come_in_request_order_without_router_keys() -> None:
    result = Projector([]).run(_compiled(), copy.deepcopy(FULL))
    assert result is not None
    assert list(result["a"]) == ["obj", "req", "opt", "many", "strict", "tags", "__typename"]
    assert list(result["a"]["many"][0]) == ["y", "x"]
    assert result["typed"] == {"__typename": "N1", "name": "n", "n1": 7}
