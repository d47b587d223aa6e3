"""Query plans: fetches arranged in Sequence and Parallel nodes, Flatten for entity paths,
and the steps the executor runs (the same waits, entity fetches batched per subgraph).

A plan is immutable once built; the executor runs it for every request that shares the
operation, so everything per-plan (subgraph query text, variable lists, representation
shapes) is computed here, once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graphql import parse, print_ast

from router.planner.context import ContextVariable, GroupedRequest
from router.planner.selection import OutSelection, RepField
from router.types import PlanPath


@dataclass(frozen=True, slots=True)
class RepSpec:
    """How to build the representation of one object for an `_entities` call."""

    typename: str  # sent as __typename (an interface name for @interfaceObject)
    fields: tuple[RepField, ...]
    # (name, data key) pairs when every field is a plain scalar: the executor's fast path.
    flat: tuple[tuple[str, str], ...] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if all(f.sub is None for f in self.fields):
            pairs = tuple((f.name, f.key) for f in self.fields if f.name != "__typename")
            object.__setattr__(self, "flat", pairs)


@dataclass(eq=False, slots=True)
class Fetch:
    id: int
    graph: str
    path: PlanPath
    entity: bool
    operation_kind: str = "query"
    selection: OutSelection = field(default_factory=OutSelection)
    reps: dict[str, RepSpec] = field(default_factory=dict)
    # Representation specs that apply to any implementation of an interface, because the
    # __typename in the data may be the interface's or, after a sibling fetch, a concrete one.
    interface_reps: dict[str, RepSpec] = field(default_factory=dict)
    deps: set[Fetch] = field(default_factory=set)
    parent: Fetch | None = None
    variables: set[str] = field(default_factory=set)
    # Filled by finalize():
    document: str = ""
    variable_names: tuple[str, ...] = ()
    # The parts of `document` a batched request is built from (entity fetches only):
    # the `{...}` selection under `_entities` and the operation's variable definitions.
    entities_selection: str = ""
    variable_defs: tuple[str, ...] = ()
    service: str = ""  # the subgraph's name, as query plans show it
    # The part of the response it serves: 0 the primary, else a deferred block's number.
    block: int = 0
    # Its id in printed plans (`Fetch(service: "a", id: 0)`), when a deferred block waits for it.
    defer_id: int | None = None
    # Aliases added to keep the subgraph query valid, undone on the response (conflicts.py).
    renames: Any = None
    # Variables of @fromContext arguments, valued per entity by the executor (context.py).
    context_args: tuple[ContextVariable, ...] = ()
    # Requests for n groups of representations with different context values, by n.
    grouped: dict[int, GroupedRequest] = field(default_factory=dict)

    def __hash__(self) -> int:
        return self.id

    def rep_for(self, typename: str, implements: dict[str, frozenset[str]]) -> RepSpec | None:
        spec = self.reps.get(typename)
        if spec is not None:
            return spec
        if self.interface_reps:
            for iface in implements.get(typename, ()):
                spec = self.interface_reps.get(iface)
                if spec is not None:
                    return spec
        return None


@dataclass(frozen=True, slots=True)
class FetchNode:
    fetch: Fetch


@dataclass(frozen=True, slots=True)
class BatchRequest:
    """One subgraph request for several entity fetches: one aliased `_entities` field each."""

    document: str
    # The variable that carries each fetch's representations, in the fetches' order.
    rep_variables: tuple[str, ...]
    # Response key (`_0`, `_1`, ...) -> position of its fetch.
    aliases: dict[str, int]


def batch_request(fetches: tuple[Fetch, ...]) -> BatchRequest:
    """The request for `fetches`, one aliased field each: `query($representations0:[_Any!]!,
    ...){_0:_entities(representations:$representations0){...} _1:_entities(...){...}}`.

    Each fetch keeps its own selection under its own alias, so the subgraph resolves it
    exactly as the fetch's own request; only the transport is shared.
    """
    used = {name for fetch in fetches for name in fetch.variable_names}
    heads: list[str] = []
    fields: list[str] = []
    rep_variables: list[str] = []
    for position, fetch in enumerate(fetches):
        name = f"representations{position}"
        while name in used:  # never shadow a client variable the selections use
            name = f"_{name}"
        rep_variables.append(name)
        heads.append(f"${name}:[_Any!]!")
        fields.append(f"_{position}:_entities(representations:${name}){fetch.entities_selection}")
    # Fetches of one operation define a shared variable identically.
    defs = dict(sorted((d.split(":", 1)[0], d) for f in fetches for d in f.variable_defs))
    document = f"query({','.join([*heads, *defs.values()])}){{{' '.join(fields)}}}"
    return BatchRequest(document, tuple(rep_variables), {f"_{i}": i for i in range(len(fetches))})


@dataclass(frozen=True, slots=True)
class BatchNode:
    """Entity fetches of one stage that go to the same subgraph, sent as one request.

    Which of them have representations is known only per request, so the request for each
    such subset is built on first use and kept (a plan serves many requests).
    """

    fetches: tuple[Fetch, ...]
    requests: dict[tuple[int, ...], BatchRequest] = field(default_factory=dict, compare=False)

    def request(self, fetches: tuple[Fetch, ...]) -> BatchRequest:
        key = tuple(f.id for f in fetches)
        built = self.requests.get(key)
        if built is None:
            built = self.requests[key] = batch_request(fetches)
        return built


@dataclass(frozen=True, slots=True)
class SequenceNode:
    nodes: tuple[PlanNode, ...]


@dataclass(frozen=True, slots=True)
class ParallelNode:
    nodes: tuple[PlanNode, ...]


PlanNode = FetchNode | SequenceNode | ParallelNode | BatchNode


@dataclass(frozen=True, slots=True)
class DeferredBlock:
    """The fetches of one deferred fragment (router/planner/defer.py), run once the part it
    is nested in has been fetched, and sent as an incremental part of its own."""

    number: int  # 1, 2, ... in planning order; the primary part is 0
    key: tuple[PlanPath, int]  # the fragment's (path, n-th there): router/planner/defer.py
    parent: int  # the block it is nested in (0: the primary part)
    label: str | None
    path: PlanPath  # where its objects are, `@` for lists
    # Printed ids of the fetches of other parts it waits for (Apollo's `depends`).
    depends: tuple[int, ...]
    subselection: str
    root: PlanNode | None
    steps: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    root: PlanNode | None
    fetch_count: int
    # What the executor runs: `root` as steps with fetches batched (schedule()). `root`
    # stays the plan as query-plan JSON shows it, one node per fetch.
    steps: tuple[Step, ...] = ()
    # With @defer: the primary part's subselection and the deferred blocks, parents first
    # (`root`/`steps` are then the primary part's).
    deferred: tuple[DeferredBlock, ...] = ()
    primary_subselection: str = ""

    def to_json(self) -> dict[str, Any]:
        """The plan as Apollo's query-plan JSON shape (for the debug extension)."""
        if self.deferred:
            return {"kind": "QueryPlan", "node": self._defer_json(0)}
        return {"kind": "QueryPlan", "node": _node_json(self.root) if self.root else None}

    def _children(self, parent: int) -> list[DeferredBlock]:
        return [b for b in self.deferred if b.parent == parent]

    def _defer_json(self, parent: int) -> dict[str, Any]:
        if parent == 0:
            subselection, node = self.primary_subselection, self.root
        else:
            block = self.deferred[parent - 1]
            subselection, node = block.subselection, block.root
        primary: dict[str, Any] = {}
        if subselection:
            primary["subselection"] = subselection
        if node is not None:
            primary["node"] = _node_json(node)
        deferred: list[dict[str, Any]] = []
        for block in self._children(parent):
            item: dict[str, Any] = {"depends": [{"id": str(i)} for i in block.depends]}
            if block.label is not None:
                item["label"] = block.label
            item["queryPath"] = list(block.path)
            if self._children(block.number):
                item["node"] = self._defer_json(block.number)
            else:
                if block.subselection:
                    item["subselection"] = block.subselection
                if block.root is not None:
                    item["node"] = _node_json(block.root)
            deferred.append(item)
        return {"kind": "Defer", "primary": primary, "deferred": deferred}

    def to_text(self) -> str:
        """The plan for people, in the layout of Apollo's `prettyFormatQueryPlan`: each
        fetch shows the representations it sends (`{...} =>`) and the operation the
        subgraph receives, pretty-printed; a last line says how many requests it makes
        once entity fetches are batched."""
        lines = ["QueryPlan {"]
        if self.deferred:
            self._defer_text(0, 1, lines)
        elif self.root is not None:
            _node_text(self.root, 1, lines)
        lines.append("}")
        requests = len(self.steps) + sum(len(b.steps) for b in self.deferred)
        lines.append(
            f"# {self.fetch_count} fetch{'es' if self.fetch_count != 1 else ''}, "
            f"{requests} subgraph request{'s' if requests != 1 else ''}"
        )
        return "\n".join(lines)

    def _defer_text(self, parent: int, depth: int, lines: list[str]) -> None:
        """Apollo's layout: `Defer { Primary { <subselection>: <node> }, [ Deferred(depends:
        [0], path: "t", label: "x") { ... }, ] }`, nested blocks as a Defer of their own."""
        pad = "  " * depth
        if parent == 0:
            subselection, node = self.primary_subselection, self.root
        else:
            block = self.deferred[parent - 1]
            subselection, node = block.subselection, block.root
        lines.append(f"{pad}Defer {{")
        lines.append(f"{pad}  Primary {{")
        _part_text(subselection, node, depth + 2, lines)
        lines.append(f"{pad}  }}, [")
        for block in self._children(parent):
            label = f', label: "{block.label}"' if block.label is not None else ""
            depends = ", ".join(str(i) for i in block.depends)
            lines.append(
                f'{pad}    Deferred(depends: [{depends}], path: "{".".join(block.path)}"{label}) {{'
            )
            if self._children(block.number):
                self._defer_text(block.number, depth + 3, lines)
            else:
                _part_text(block.subselection, block.root, depth + 3, lines)
            lines.append(f"{pad}    }},")
        lines.append(f"{pad}  ]")
        lines.append(f"{pad}}},")


def _part_text(subselection: str, node: PlanNode | None, depth: int, lines: list[str]) -> None:
    lines.append(f"{'  ' * depth}{subselection}:")
    if node is not None:
        _node_text(node, depth, lines)


def _node_json(node: PlanNode) -> dict[str, Any]:
    if isinstance(node, BatchNode):
        return {"kind": "Parallel", "nodes": [_node_json(FetchNode(f)) for f in node.fetches]}
    if isinstance(node, SequenceNode):
        return {"kind": "Sequence", "nodes": [_node_json(n) for n in node.nodes]}
    if isinstance(node, ParallelNode):
        return {"kind": "Parallel", "nodes": [_node_json(n) for n in node.nodes]}
    fetch = node.fetch
    body: dict[str, Any] = {
        "kind": "Fetch",
        "serviceName": fetch.service,
        "variableUsages": list(fetch.variable_names),
        "operation": fetch.document,
        "operationKind": fetch.operation_kind,
    }
    if fetch.context_args:
        # Apollo's shape: where each @fromContext value is read, relative to the entity.
        body["contextRewrites"] = [
            {"kind": "KeyRenamer", "path": source.rewrite_path(), "renameKeyTo": variable.name}
            for variable in fetch.context_args
            for source in variable.sources
        ]
    if fetch.defer_id is not None:
        body["id"] = str(fetch.defer_id)
    if fetch.entity:
        body["requires"] = sorted({spec.typename for spec in fetch.reps.values()})
        return {"kind": "Flatten", "path": list(fetch.path), "node": body}
    return body


def _node_text(node: PlanNode, depth: int, lines: list[str]) -> None:
    pad = "  " * depth
    if isinstance(node, SequenceNode | ParallelNode | BatchNode):
        kind = "Sequence" if isinstance(node, SequenceNode) else "Parallel"
        children = (
            [FetchNode(f) for f in node.fetches] if isinstance(node, BatchNode) else node.nodes
        )
        lines.append(f"{pad}{kind} {{")
        for child in children:
            _node_text(child, depth + 1, lines)
        lines.append(f"{pad}}},")
        return
    fetch = node.fetch
    if fetch.entity:
        lines.append(f'{pad}Flatten(path: "{".".join(fetch.path)}") {{')
        _fetch_text(fetch, depth + 1, lines)
        lines.append(f"{pad}}},")
    else:
        _fetch_text(fetch, depth, lines)


def _fetch_text(fetch: Fetch, depth: int, lines: list[str]) -> None:
    pad = "  " * depth
    inner = "  " * (depth + 1)
    ident = f", id: {fetch.defer_id}" if fetch.defer_id is not None else ""
    lines.append(f'{pad}Fetch(service: "{fetch.service}"{ident}) {{')
    if fetch.entity:
        reps = " ".join(
            f"... on {typename} {{ {_rep_text(spec.fields)} }}"
            for typename, spec in sorted(fetch.reps.items())
        )
        lines.append(f"{inner}{{ {reps} }} =>")
    # The exact text sent to the subgraph, laid out by graphql-core's printer.
    printed = print_ast(parse(fetch.document, no_location=True))
    lines.extend(f"{inner}{line}" for line in printed.splitlines())
    lines.append(f"{pad}}},")


def _rep_text(fields: tuple[RepField, ...]) -> str:
    parts: list[str] = []
    for f in fields:
        if f.sub is not None:
            parts.append(f"{f.name} {{ {_rep_text(f.sub)} }}")
        else:
            parts.append(f.name)
        parts.extend(f"... on {t} {{ {_rep_text(sub)} }}" for t, sub in f.fragments)
    return " ".join(parts)


def build_tree(roots: list[Fetch], all_fetches: list[Fetch], sequential: bool) -> PlanNode | None:
    """Arrange the fetch DAG as nested Sequence/Parallel nodes.

    A fetch's children run after it; children that need data from a sibling's subtree
    (@requires, keys fetched from elsewhere) go in a later parallel layer.
    """
    children: dict[int, list[Fetch]] = {f.id: [] for f in all_fetches}
    for f in all_fetches:
        # A parent outside `all_fetches` is another part's (@defer): `f` is a root here.
        if f.parent is not None and f.parent.id in children:
            children[f.parent.id].append(f)

    def top_child(dep: Fetch, parent: Fetch) -> Fetch | None:
        node: Fetch | None = dep
        while node is not None and node.parent is not parent:
            node = node.parent
        return node

    def subtree(fetch: Fetch) -> PlanNode:
        kids = children[fetch.id]
        if not kids:
            return FetchNode(fetch)
        layer: dict[int, int] = {}

        def layer_of(kid: Fetch, seen: frozenset[int] = frozenset()) -> int:
            if kid.id in layer:
                return layer[kid.id]
            level = 0
            for dep in kid.deps:
                if dep is fetch:
                    continue
                sibling = top_child(dep, fetch)
                if sibling is None or sibling is kid or sibling.id in seen:
                    continue
                level = max(level, layer_of(sibling, seen | {kid.id}) + 1)
            layer[kid.id] = level
            return level

        for kid in kids:
            layer_of(kid)
        steps: list[PlanNode] = [FetchNode(fetch)]
        for level in range(max(layer.values()) + 1):
            group = [subtree(k) for k in kids if layer[k.id] == level]
            if group:
                steps.append(group[0] if len(group) == 1 else ParallelNode(tuple(group)))
        return SequenceNode(tuple(steps))

    nodes = [subtree(r) for r in roots]
    if not nodes:
        return None
    if len(nodes) == 1:
        return nodes[0]
    if sequential:
        return SequenceNode(tuple(nodes))

    def top(dep: Fetch) -> Fetch | None:
        node = dep
        while node.parent is not None and node.parent.id in children:
            node = node.parent
        return node if node.id in children else None

    # A deferred block's roots may wait for one another (a key fetched before the block's
    # entity fetch): those run in later layers.
    levels: dict[int, int] = {}

    def level_of(fetch: Fetch, seen: frozenset[int] = frozenset()) -> int:
        if fetch.id not in levels:
            level = 0
            for dep in fetch.deps:
                other = top(dep)
                if other is not None and other is not fetch and other.id not in seen:
                    level = max(level, level_of(other, seen | {fetch.id}) + 1)
            levels[fetch.id] = level
        return levels[fetch.id]

    layers: dict[int, list[PlanNode]] = {}
    for fetch, node in zip(roots, nodes, strict=True):
        layers.setdefault(level_of(fetch), []).append(node)
    steps = [
        group[0] if len(group) == 1 else ParallelNode(tuple(group))
        for _, group in sorted(layers.items())
    ]
    return steps[0] if len(steps) == 1 else SequenceNode(tuple(steps))


@dataclass(frozen=True, slots=True)
class Step:
    """One subgraph request of a plan's schedule and the steps it waits for."""

    node: FetchNode | BatchNode
    waits: tuple[int, ...]  # positions of earlier steps in the schedule


def schedule(root: PlanNode | None) -> tuple[Step, ...]:
    """The plan tree as steps that each start when the steps they wait for are done, with
    the entity fetches of each stage batched per subgraph (one request each).

    A fetch waits for exactly what it waits for in the tree: in a Sequence, every fetch of
    the previous element. Its stage is the length of the longest such chain before it, so
    two fetches of one stage never wait for each other and may share a request; the
    shared request waits for what either member waits for (a fetch may start later than in
    the tree, never earlier, and any two fetches that ran concurrently could already
    complete in either order). Root fetches stay alone: mutations run in order, and root
    fields of one subgraph are already one fetch.
    """
    waits: dict[int, frozenset[Fetch]] = {}
    stage: dict[int, int] = {}
    order: list[Fetch] = []

    def walk(node: PlanNode, before: frozenset[Fetch]) -> set[Fetch]:
        if isinstance(node, FetchNode):
            fetch = node.fetch
            waits[fetch.id] = before
            stage[fetch.id] = 1 + max((stage[f.id] for f in before), default=-1)
            order.append(fetch)
            return {fetch}
        if isinstance(node, BatchNode):
            raise TypeError("schedule() takes the plan tree, before batching")
        if isinstance(node, SequenceNode):
            inside: set[Fetch] = set()
            current = before
            for child in node.nodes:
                done = walk(child, current)
                inside |= done
                current = frozenset(done)
            return inside
        inside = set()
        for child in node.nodes:
            inside |= walk(child, before)
        return inside

    if root is None:
        return ()
    walk(root, frozenset())
    groups: dict[tuple[int, str] | int, list[Fetch]] = {}
    for fetch in sorted(order, key=lambda f: stage[f.id]):
        # Root fetches stay alone, and so do fetches with context variables: a batch would
        # share one variable between fetches whose values differ.
        key: tuple[int, str] | int = (
            (stage[fetch.id], fetch.graph)
            if fetch.entity and not fetch.context_args
            else -1 - fetch.id
        )
        groups.setdefault(key, []).append(fetch)
    position = {f.id: i for i, group in enumerate(groups.values()) for f in group}
    steps: list[Step] = []
    for i, group in enumerate(groups.values()):
        node: FetchNode | BatchNode = (
            FetchNode(group[0]) if len(group) == 1 else BatchNode(tuple(group))
        )
        after = sorted({position[d.id] for f in group for d in waits[f.id]} - {i})
        steps.append(Step(node, tuple(after)))
    return tuple(steps)
