"""Shape merged subgraph data into the client's response.

Subgraph responses are merged into one tree keyed by the client's response keys plus the
router's own key and `@requires` selections. This pass walks the client operation once
(precompiled per plan) to keep only requested fields in request order, resolve abstract
types by `__typename`, and apply GraphQL null propagation: a null in a non-null position
nulls the nearest nullable parent and records an error unless one is already there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLOutputType,
    GraphQLSchema,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    is_abstract_type,
    is_leaf_type,
)

from router.planner.collect import Deferral, FieldCollector
from router.types import JSONObject, ResponsePath

# Shape kinds. Final: compiled (router/native.py), they are constants, not global look-ups.
LEAF: Final = 0
TYPENAME: Final = 1
OBJECT: Final = 2
ABSTRACT: Final = 3
RAW: Final = 4
ENUM: Final = 5


class _Invalid:
    """Marker for a null that must propagate to the parent."""


INVALID: Final = _Invalid()


@dataclass(slots=True)
class Shape:
    nonnull: bool
    kind: int
    item: Shape | None = None  # set for lists
    obj: CompiledObject | None = None
    by_type: dict[str, CompiledObject] | None = None
    default: CompiledObject | None = None
    # Enum values clients may see, when the enum has @inaccessible ones; else None.
    enum_values: frozenset[str] | None = None
    # Concrete types hidden from the API schema: such objects read as null.
    hidden: frozenset[str] = frozenset()


@dataclass(slots=True)
class CompiledField:
    key: str
    parent: str
    name: str
    shape: Shape


@dataclass(slots=True)
class CompiledObject:
    type_name: str
    fields: list[CompiledField] = field(default_factory=list)
    # Per field: (key, step, nonnull, shape, field); step 0 typename, 1 copy, 2 descend.
    steps: list[tuple[str, int, bool, Shape, CompiledField]] = field(default_factory=list)
    # The same, split for `Projector.object`'s fast path: every key in request order, the
    # non-null copied keys, the __typename keys, and the fields to descend into, in order.
    keys: list[str] = field(default_factory=list)
    # The keys again, in order, each mapped to None: copied, a dict the size of the answer.
    template: dict[str, Any] = field(default_factory=dict)
    required: list[str] = field(default_factory=list)
    typenames: list[str] = field(default_factory=list)
    descend: list[tuple[str, bool, Shape, CompiledField]] = field(default_factory=list)

    def add(self, f: CompiledField) -> None:
        self.fields.append(f)
        shape = f.shape
        if shape.kind == TYPENAME:
            step = 0
            self.typenames.append(f.key)
        elif (shape.kind == LEAF and shape.item is None) or shape.kind == RAW:
            step = 1
            if shape.nonnull:
                self.required.append(f.key)
        else:
            step = 2
            self.descend.append((f.key, shape.nonnull, shape, f))
        self.keys.append(f.key)
        self.template[f.key] = None
        self.steps.append((f.key, step, shape.nonnull, shape, f))


def as_parsed(key: str) -> str:
    """`key` as the str object orjson returns for it when it parses an object: orjson keeps
    one object per key it has seen (its key cache), so looking a compiled key up in a
    subgraph's answer compares pointers, not characters. Only speed depends on it: any
    equal str finds the same value."""
    parsed: JSONObject = orjson.loads(orjson.dumps({key: None}))
    return next(iter(parsed))


TYPENAME_KEY: Final = as_parsed("__typename")


class Compiler:
    """Compile an operation's selections against the supergraph schema, per concrete type."""

    def __init__(
        self,
        schema: GraphQLSchema,
        api_schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, bool],
        defer: bool = False,
    ) -> None:
        """`defer`: leave deferred fragments out (each is compiled on its own, `deferred`)."""
        self.schema = schema
        self.api_schema = api_schema
        self.collector = FieldCollector(schema, fragments, variables)
        self.defer = defer

    def compile(self, operation: OperationDefinitionNode) -> CompiledObject:
        root = self.schema.get_root_type(operation.operation)
        assert root is not None
        return self.object(root.name, [operation.selection_set], root=True)

    def object(
        self, type_name: str, sets: list[SelectionSetNode], root: bool = False
    ) -> CompiledObject:
        gtype = self.schema.get_type(type_name)
        compiled = CompiledObject(type_name)
        defers: list[Deferral] | None = [] if self.defer else None
        for key, nodes in self.collector.collect(type_name, sets, defers).items():
            fname = nodes[0].name.value
            if fname == "__typename":
                shape = Shape(True, TYPENAME)
            elif root and fname in ("__schema", "__type"):
                shape = Shape(fname == "__schema", RAW)
            else:
                fdef = gtype.fields[fname]  # type: ignore[union-attr]
                shape = self.shape(fdef.type, nodes)
            compiled.add(CompiledField(as_parsed(key), type_name, fname, shape))
        return compiled

    def deferred(
        self, types: Iterable[str], selection_set: SelectionSetNode, root: bool = False
    ) -> dict[str, CompiledObject]:
        """A deferred fragment's own fields (nested deferred fragments left out), per
        concrete type of the objects it applies to."""
        return {t: self.object(t, [selection_set], root=root) for t in types}

    def shape(self, gql_type: GraphQLOutputType, nodes: list[FieldNode]) -> Shape:
        nonnull = isinstance(gql_type, GraphQLNonNull)
        inner = gql_type.of_type if isinstance(gql_type, GraphQLNonNull) else gql_type
        if isinstance(inner, GraphQLList):
            return Shape(nonnull, LEAF, item=self.shape(inner.of_type, nodes))
        named = get_named_type(inner)
        if is_leaf_type(named):
            api_enum = self.api_schema.get_type(named.name)
            if (
                isinstance(named, GraphQLEnumType)
                and isinstance(api_enum, GraphQLEnumType)
                and len(api_enum.values) != len(named.values)
            ):
                return Shape(nonnull, ENUM, enum_values=frozenset(api_enum.values))
            return Shape(nonnull, LEAF)
        sets = [n.selection_set for n in nodes if n.selection_set is not None]
        if not is_abstract_type(named):
            return Shape(nonnull, OBJECT, obj=self.object(named.name, sets))
        # Through Any: graphql-core returns a tuple where its annotation says list, and the
        # compiled module (router/native.py) checks annotated return types.
        schema: Any = self.schema
        possible = [t.name for t in schema.get_possible_types(named)]
        visible = [t for t in possible if self.api_schema.get_type(t) is not None]
        return Shape(
            nonnull,
            ABSTRACT,
            by_type={t: self.object(t, sets) for t in visible},
            default=self.object(named.name, sets),
            hidden=frozenset(possible) - frozenset(visible),
        )


def _in_order(src: JSONObject, keys: list[str]) -> bool:
    """Whether `src`, as long as `keys`, has exactly them in that order."""
    return all(key == keys[index] for index, key in enumerate(src))


# A response path as a linked list of (parent, key), materialised only for errors.
Path = tuple[Any, str | int] | None


def _path_list(path: Path) -> list[str | int]:
    out: list[str | int] = []
    while path is not None:
        path, key = path
        out.append(key)
    out.reverse()
    return out


class Projector:
    """Apply one compiled operation to merged data; collects null-propagation errors."""

    __slots__ = ("error_paths", "errors")

    def __init__(self, errors: list[JSONObject]) -> None:
        self.errors = errors
        self.error_paths: list[tuple[str | int, ...]] | None = None

    def run(self, compiled: CompiledObject, data: JSONObject | None) -> JSONObject | None:
        result = self.object(compiled, data or {}, None)
        return None if result is INVALID else result

    def run_at(self, compiled: CompiledObject, data: JSONObject, at: ResponsePath) -> Any:
        """Project the object at response path `at` (a deferred part): a null that reaches
        the fragment nulls its whole `data`, and errors carry full paths."""
        path: Path = None
        for segment in at:
            path = (path, segment)
        result = self.object(compiled, data, path)
        return None if result is INVALID else result

    def object(self, compiled: CompiledObject, src: JSONObject, path: Path) -> Any:
        # Fast path, the common case (profiled under bench/run.py): every field copied in
        # request order, then only the object and list fields visited, in order; a null
        # non-null leaf takes the field-by-field walk below, so the errors recorded (and
        # their order) are the same either way.
        keys = compiled.keys
        out: JSONObject
        if len(src) == len(keys) and _in_order(src, keys):
            # Exactly the requested keys, in request order (half of TestQuery's objects):
            # one copy of the whole dict, no look-up or insert per key.
            out = src.copy()
        else:
            # Into a copy of the template: the dict is allocated at its final size, with
            # its keys in order, instead of growing key by key.
            out = compiled.template.copy()
            for key in keys:
                out[key] = src.get(key)
        for key in compiled.required:
            if out[key] is None:
                return self.walk(compiled, src, path)
        for key in compiled.typenames:
            out[key] = out[key] or compiled.type_name
        for key, nonnull, shape, f in compiled.descend:
            value = out[key]
            if value is None:
                if nonnull:
                    self.null_error(f, (path, key))
                    return INVALID
                continue
            value = self.value(shape, value, (path, key), f)
            if value is INVALID:
                if nonnull:
                    return INVALID
                value = None
            out[key] = value
        return out

    def walk(self, compiled: CompiledObject, src: JSONObject, path: Path) -> Any:
        """`object` field by field: stops at the first non-null field that is null."""
        out: JSONObject = {}
        get = src.get
        for key, step, nonnull, shape, f in compiled.steps:
            value = get(key)
            if step == 1:
                if value is None and nonnull:
                    self.null_error(f, (path, key))
                    return INVALID
                out[key] = value
            elif step == 0:
                out[key] = value or compiled.type_name
            elif value is None:
                if nonnull:
                    self.null_error(f, (path, key))
                    return INVALID
                out[key] = None
            else:
                value = self.value(shape, value, (path, key), f)
                if value is INVALID:
                    if nonnull:
                        return INVALID
                    value = None
                out[key] = value
        return out

    def value(self, shape: Shape, value: Any, path: Path, f: CompiledField) -> Any:
        item = shape.item
        if item is not None:
            if not isinstance(value, list):
                return INVALID if shape.nonnull else None
            if item.item is None and item.kind == LEAF:
                # A list of leaves: copied, unless a null sits where the schema forbids one.
                if item.nonnull:
                    for index, element in enumerate(value):
                        if element is None:
                            self.null_error(f, (path, index))
                            return INVALID
                return list(value)
            # A list of objects, the common case, goes straight to `object`.
            objects = item.obj if item.item is None and item.kind == OBJECT else None
            # Allocated at its final length, filled in place.
            out: list[Any] = [None] * len(value)
            for index, element in enumerate(value):
                if element is None:
                    if item.nonnull:
                        self.null_error(f, (path, index))
                        return INVALID
                    continue
                if objects is not None and isinstance(element, dict):
                    completed = self.object(objects, element, (path, index))
                else:
                    completed = self.value(item, element, (path, index), f)
                if completed is INVALID:
                    if item.nonnull:
                        return INVALID
                    completed = None
                out[index] = completed
            return out
        if shape.kind == OBJECT:
            if not isinstance(value, dict):
                return INVALID if shape.nonnull else None
            return self.object(shape.obj, value, path)  # type: ignore[arg-type]
        if shape.kind == ABSTRACT:
            if not isinstance(value, dict):
                return INVALID if shape.nonnull else None
            typename = value.get(TYPENAME_KEY, "")
            if typename in shape.hidden:
                return INVALID if shape.nonnull else None
            compiled = (shape.by_type or {}).get(typename, shape.default)
            return self.object(compiled, value, path)  # type: ignore[arg-type]
        if shape.kind == ENUM and value not in shape.enum_values:  # type: ignore[operator]
            return INVALID if shape.nonnull else None
        return value

    def null_error(self, f: CompiledField, path: Path) -> None:
        as_list = _path_list(path)
        if self.error_paths is None:
            self.error_paths = [tuple(e.get("path") or ()) for e in self.errors]
            # An error without a path is about a whole subgraph request: unreachable, or
            # refused before it ran (validation, variables, input hygiene). The nulls it
            # causes are explained by that error, not by one more per field.
            if any(not e.get("path") for e in self.errors):
                self.error_paths.append(_EVERYWHERE)
        prefix = tuple(as_list)
        for existing in self.error_paths:
            if existing is _EVERYWHERE:
                return
            related = existing[: len(prefix)] == prefix or prefix[: len(existing)] == existing
            # An error in a sibling field nulls the object they share (a non-null field's
            # error bubbles up to the entity the same fetch returned): that explains it too.
            parent = existing[:-1]
            sibling = bool(parent) and prefix[: len(parent)] == parent
            if existing and (related or sibling):
                return
        # A subgraph answered null where its schema promises a value: its fault, not the
        # client's, and every error carries a contract code.
        self.errors.append(
            {
                "message": f"Cannot return null for non-nullable field {f.parent}.{f.name}.",
                "path": as_list,
                "extensions": {"code": "INTERNAL_SERVER_ERROR"},
            }
        )
        self.error_paths.append(prefix)


_EVERYWHERE: Final[tuple[str | int, ...]] = ("<every path>",)


def selects(compiled: CompiledObject, path: list[Any]) -> bool:
    """Whether a response path (relative to `compiled`'s object) names a field this
    projection selects: which part of a deferred answer an error belongs to."""
    keys = [segment for segment in path if isinstance(segment, str)]
    if not keys:
        return False
    found = next((f for f in compiled.fields if f.key == keys[0]), None)
    if found is None:
        return False
    if len(keys) == 1:
        return True
    shape = found.shape
    while shape.item is not None:
        shape = shape.item
    rest = path[path.index(keys[0]) + 1 :]
    if shape.obj is not None:
        return selects(shape.obj, rest)
    return any(selects(obj, rest) for obj in (shape.by_type or {}).values())
