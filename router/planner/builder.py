"""The query planner: turn one operation into fetches against subgraphs.

Walks the operation type by type inside the subgraph of the current fetch. A field that
subgraph resolves (itself, or through `@provides`) is added to the fetch's selection; any
other field becomes an entity jump: the parent object's key (plus `@requires` fields) is
selected here, and a dependent `_entities` fetch to a subgraph that resolves the field is
grouped per (parent fetch, subgraph, path, dependencies). Abstract types are expanded
into one inline fragment per concrete type the subgraph knows, so each concrete type can
jump on its own. A field of a value type (no key) that another subgraph resolves is
fetched again through the nearest ancestor that can jump, or from the root.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLObjectType,
    InlineFragmentNode,
    NamedTypeNode,
    NameNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    is_interface_type,
    is_leaf_type,
    is_object_type,
    is_union_type,
    parse_type,
    print_ast,
)

from router.planner.collect import Collected, Deferral, FieldCollector
from router.planner.conflicts import resolve_conflicts
from router.planner.context import (
    ContextSource,
    ContextVariable,
    ancestors,
    field_steps,
    free_name,
    merge_variables,
    selection_of,
    sets_context,
    typenames,
    variable_names,
    with_variables,
)
from router.planner.defer import DeferredFragment, NodeKey, find_deferred, subselection
from router.planner.merge import merge_siblings
from router.planner.plan import (
    DeferredBlock,
    Fetch,
    Plan,
    PlanNode,
    RepSpec,
    Step,
    build_tree,
    schedule,
)
from router.planner.requirements import (
    field_def,
    internalize,
    list_depth,
    named_type,
    print_args,
    rep_conflict,
    rep_fields,
)
from router.planner.selection import OutSelection, RepField, merge_rep_fields
from router.supergraph import Key, Supergraph, named_type_name
from router.types import PlanPath

ProvidedMap = dict[str, list[SelectionSetNode | None]]


class PlanError(Exception):
    """The operation cannot be served by the subgraphs of this supergraph."""


@dataclass(frozen=True, slots=True)
class Position:
    """An object being planned: its fetch, subgraph, type, selection and path, the field
    that led to it, and the client's fields there (router selections avoid their keys)."""

    fetch: Fetch
    graph: str
    tname: str
    out: OutSelection
    path: PlanPath
    frame: Frame | None
    client: Collected


@dataclass(frozen=True, slots=True)
class Site:
    """Where the planner met a deferred fragment: the fetch and selection of the objects it
    applies to (`fetch` None on the operation's root)."""

    deferral: Deferral
    fetch: Fetch | None
    graph: str
    tname: str
    out: OutSelection
    path: PlanPath
    provided: list[SelectionSetNode] | None
    frame: Frame | None
    # The client's other fields on the object: router-added keys must not clash with them.
    client: Collected


@dataclass(frozen=True, slots=True)
class Frame:
    """The field that led to the current object, inside the current fetch."""

    tname: str  # the parent object's type
    out: OutSelection  # the parent object's selection
    path: PlanPath  # the parent object's path
    key: str
    node: FieldNode
    parent: Frame | None


class PlanBuilder:
    def __init__(
        self,
        supergraph: Supergraph,
        operation: OperationDefinitionNode,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, bool],
        defer: bool = False,
    ) -> None:
        """`defer`: plan @defer fragments as blocks of their own (the client reads
        incremental responses); without it they are planned like any fragment."""
        self.sg = supergraph
        self.schema = supergraph.schema
        self.operation = operation
        self.fragments = fragments
        self.variables = variables
        self.collector = FieldCollector(self.schema, fragments, variables)
        # The deferred fragments, the block being planned (0: the primary part) and, per
        # block, the places its fragment was met.
        self.deferred: dict[NodeKey, DeferredFragment] = (
            find_deferred(self.schema, operation, fragments, variables) if defer else {}
        )
        self.block = 0
        self.sites: dict[NodeKey, list[Site]] = {}
        self.fetches: list[Fetch] = []
        self.roots: list[Fetch] = []
        self.groups: dict[tuple[object, ...], Fetch] = {}
        self.touched: list[Fetch] = []
        self.in_progress: set[tuple[str, str, PlanPath, str]] = set()
        self.root_type = ""
        self.requiring = 0
        # The objects being planned, outermost first: where @fromContext values are read.
        self.stack: list[Position] = []

    # ------------------------------------------------------------------ entry
    def build(self) -> Plan:
        op = self.operation.operation
        # A subscription plans like a query: its one root field is the root fetch (sent to
        # the subgraph as the subscription), the rest the entity fetches run per event.
        root = self.schema.get_root_type(op)
        if root is None:
            raise PlanError(f"the schema has no {op.value} type")
        self.root_type = root.name
        sequential = op is OperationType.MUTATION
        self.plan_root(self.operation.selection_set, (), sequential)
        if self.deferred:
            return self._build_deferred(sequential)
        self._finalize()
        tree = build_tree(self.roots, self.fetches, sequential)
        return Plan(tree, len(self.fetches), schedule(tree))

    def plan_root(self, selection_set: SelectionSetNode, path: PlanPath, sequential: bool) -> None:
        """Plan root fields: one fetch per subgraph (in order for mutations)."""
        op = self.operation.operation
        defers = self._defers()
        fields = self.collector.collect(self.root_type, [selection_set], defers)
        self._sites(defers, None, "", self.root_type, OutSelection(), path, None, None, fields)
        groups: list[tuple[str, Collected]] = []
        for key, nodes in fields.items():
            fname = nodes[0].name.value
            if fname.startswith("__"):
                continue  # __typename, __schema, __type: answered by the router
            graph = self._root_graph(self.root_type, fname, nodes, groups, sequential)
            if sequential:
                if groups and groups[-1][0] == graph:
                    groups[-1][1][key] = nodes
                else:
                    groups.append((graph, {key: nodes}))
            else:
                for g, collected in groups:
                    if g == graph:
                        collected[key] = nodes
                        break
                else:
                    groups.append((graph, {key: nodes}))
        for graph, collected in groups:
            fetch = self._root_fetch(graph, op.value, reuse=False)
            self.plan_object(
                fetch, graph, self.root_type, collected, fetch.selection, (), None, None
            )

    def _root_graph(
        self,
        root: str,
        fname: str,
        nodes: list[FieldNode],
        groups: list[tuple[str, Collected]],
        sequential: bool,
    ) -> str:
        candidates = sorted(self.sg.types[root].resolvable.get(fname, ()))
        if not candidates:
            raise PlanError(f"no subgraph resolves {root}.{fname}")
        if len(candidates) == 1:
            return candidates[0]
        used = [groups[-1][0]] if sequential and groups else [g for g, _ in groups]
        sub_sets = [n.selection_set for n in nodes if n.selection_set]

        def score(graph: str) -> tuple[int, int]:
            named = self.graph_field_type(root, fname, graph)
            provided = self.provides_of(root, fname, graph)
            cover = self.coverage(graph, named, sub_sets, provided)
            return (-cover, 0 if graph in used else 1)

        return min(candidates, key=score)

    # ------------------------------------------------------------------ fetches
    def _new_fetch(
        self, graph: str, path: PlanPath, entity: bool, parent: Fetch | None, deps: set[Fetch]
    ) -> Fetch:
        fetch = Fetch(len(self.fetches), graph, path, entity, parent=parent, deps=set(deps))
        fetch.block = self.block
        self.fetches.append(fetch)
        return fetch

    def _root_fetch(self, graph: str, kind: str, reuse: bool) -> Fetch:
        if reuse:
            for fetch in self.roots:
                if fetch.graph == graph and fetch.block == self.block:
                    return fetch
        fetch = self._new_fetch(graph, (), entity=False, parent=None, deps=set())
        fetch.operation_kind = kind
        self.roots.append(fetch)
        return fetch

    def child_fetch(
        self,
        parent: Fetch,
        graph: str,
        path: PlanPath,
        deps: set[Fetch],
        tname: str,
        fields: tuple[RepField, ...],
    ) -> Fetch:
        # Fetches of different parts (@defer) are never grouped: each part runs apart.
        base = (parent.id, graph, path, frozenset(d.id for d in deps), self.block)
        variant = 0
        while True:
            fetch = self.groups.get((*base, variant))
            if fetch is None:
                fetch = self._new_fetch(graph, path, entity=True, parent=parent, deps=deps)
                self.groups[(*base, variant)] = fetch
                break
            old = fetch.reps.get(tname)
            if old is None or not rep_conflict(old.fields, fields):
                break
            variant += 1
        self.touched.append(fetch)
        return fetch

    # ------------------------------------------------------------------ resolvability
    def provided_map(self, provided: list[SelectionSetNode] | None, tname: str) -> ProvidedMap:
        found: ProvidedMap = {}

        def walk(sel_set: SelectionSetNode) -> None:
            for sel in sel_set.selections:
                if isinstance(sel, FieldNode):
                    found.setdefault(sel.name.value, []).append(sel.selection_set)
                elif isinstance(sel, InlineFragmentNode):
                    cond = sel.type_condition.name.value if sel.type_condition else None
                    if self.collector.applies(cond, tname):
                        walk(sel.selection_set)

        for sel_set in provided or ():
            walk(sel_set)
        return found

    def provides_of(self, tname: str, fname: str, graph: str) -> list[SelectionSetNode] | None:
        join = self.sg.field_join(tname, fname, graph)
        return [join.provides] if join is not None and join.provides is not None else None

    def graph_field_type(self, tname: str, fname: str, graph: str) -> str:
        """The named type of tname.fname as `graph` declares it (join__field type)."""
        join = self.sg.field_join(tname, fname, graph)
        if join is not None and join.type:
            return named_type_name(parse_type(join.type))
        return named_type(field_def(self.schema, tname, fname).type).name

    def local(self, graph: str, tname: str, fname: str, provided: ProvidedMap | None) -> bool:
        meta = self.sg.types[tname]
        if graph in meta.resolvable.get(fname, ()):
            # A @requires field is only answered through `_entities`, which carries the
            # required fields in the representation: never select it directly.
            join = self.sg.field_join(tname, fname, graph)
            return join is None or (join.requires is None and not join.context_arguments)
        return provided is not None and fname in provided

    def selection_local(self, graph: str, tname: str, sel_set: SelectionSetNode) -> bool:
        for sel in sel_set.selections:
            if not isinstance(sel, FieldNode):
                return False
            fname = sel.name.value
            if fname == "__typename":
                continue
            if not self.local(graph, tname, fname, None):
                return False
            if sel.selection_set is not None:
                named = named_type(field_def(self.schema, tname, fname).type)
                if is_object_type(named) and not self.selection_local(
                    graph, named.name, sel.selection_set
                ):
                    return False
        return True

    def key_obtainable(
        self, graph: str, tname: str, sel_set: SelectionSetNode, depth: int = 0
    ) -> bool:
        """Can `graph` get these key fields, itself or through one more entity jump?"""
        meta = self.sg.types[tname]
        for sel in sel_set.selections:
            if not isinstance(sel, FieldNode) or sel.name.value == "__typename":
                continue
            fname = sel.name.value
            if self.local(graph, tname, fname, None):
                continue
            if depth > 1:
                return False
            if not any(
                k.resolvable
                and (
                    self.selection_local(graph, tname, k.selection)
                    or self.key_obtainable(graph, tname, k.selection, depth + 1)
                )
                for other in meta.resolvable.get(fname, ())
                if other != graph
                for k in meta.keys.get(other, ())
            ):
                return False
        return True

    def member_in_graph(self, graph: str, abstract: str, concrete: str) -> bool:
        ameta = self.sg.types[abstract]
        if not is_interface_type(self.schema.get_type(abstract)):
            return concrete in ameta.union_members.get(graph, ())
        cmeta = self.sg.types.get(concrete)
        return (
            cmeta is not None
            and graph in cmeta.graphs
            and abstract in cmeta.implements.get(graph, ())
        )

    def path_graphs(self, graph: str, frame: Frame) -> frozenset[str]:
        """The subgraphs that could resolve the field `frame` went through, at this path:
        those that resolve it and hold the parent object there — where the field leading to
        the parent could come from, or, for an entity, any subgraph it can jump to by key.
        At the top of a fetch (no parent frame) the object is known to be in `graph`."""
        meta = self.sg.types[frame.tname]
        resolvers = meta.resolvable.get(frame.node.name.value, frozenset())
        if frame.tname == self.root_type:
            return frozenset(resolvers)
        holders = self.path_graphs(graph, frame.parent) if frame.parent else frozenset({graph})
        keyed = {g for g, keys in meta.keys.items() if any(k.resolvable for k in keys)}
        return frozenset(resolvers) & (holders | keyed)

    def shared_members(self, graph: str, union: str, frame: Frame | None) -> frozenset[str]:
        """The members of `union` to select in `graph`: Apollo's planner keeps only those
        that every subgraph still able to resolve the field returning it knows (a @shareable
        field may answer from any of them, so only their common members are safe). The
        others read as `{__typename}` with their fields null."""
        members = self.sg.types[union].union_members
        shared = frozenset(members.get(graph, ()))
        if frame is None:
            return shared
        fname = frame.node.name.value
        for other in self.path_graphs(graph, frame):
            # A subgraph whose field returns another type says nothing about this union.
            if other != graph and self.graph_field_type(frame.tname, fname, other) == union:
                shared &= members.get(other, frozenset())
        return shared

    def coverage(
        self,
        graph: str,
        tname: str,
        sub_sets: list[SelectionSetNode],
        provided: list[SelectionSetNode] | None = None,
        depth: int = 0,
    ) -> int:
        """How much of a selection `graph` answers without jumps (a planning heuristic)."""
        gtype = self.schema.get_type(tname)
        if depth > 4 or not sub_sets or gtype is None or is_leaf_type(gtype):
            return 0
        if is_object_type(gtype) or graph in self.sg.types[tname].interface_object_graphs:
            concrete = [tname]
        else:
            concrete = [
                t.name
                for t in self.schema.get_possible_types(gtype)  # type: ignore[arg-type]
                if self.member_in_graph(graph, tname, t.name)
            ]
        score = 0
        for cname in concrete:
            prov = self.provided_map(provided, cname) if provided else None
            for nodes in self.collector.collect(cname, sub_sets).values():
                fname = nodes[0].name.value
                if fname == "__typename":
                    continue
                if not self.local(graph, cname, fname, prov):
                    score -= 1
                    continue
                score += 1
                subs = [n.selection_set for n in nodes if n.selection_set]
                if subs:
                    inner = self.provides_of(cname, fname, graph)
                    if inner is None and prov is not None and fname in prov:
                        inner = [s for s in prov[fname] if s is not None]
                    score += self.coverage(
                        graph, self.graph_field_type(cname, fname, graph), subs, inner, depth + 1
                    )
        return score

    # ------------------------------------------------------------------ walking
    def plan_composite(
        self,
        fetch: Fetch,
        graph: str,
        tname: str,
        sub_sets: list[SelectionSetNode],
        out: OutSelection,
        path: PlanPath,
        provided: list[SelectionSetNode] | None,
        frame: Frame | None,
        exclude: frozenset[str] = frozenset(),
    ) -> None:
        gtype = self.schema.get_type(tname)
        if is_object_type(gtype):
            defers = self._defers()
            fields = self.collector.collect(tname, sub_sets, defers)
            for key in exclude:
                fields.pop(key, None)
            self.plan_object(fetch, graph, tname, fields, out, path, provided, frame)
            self._sites(defers, fetch, graph, tname, out, path, provided, frame, fields)
            return
        if graph in self.sg.types[tname].interface_object_graphs:
            self.plan_interface_object(fetch, graph, tname, sub_sets, out, path, provided, frame)
            return
        out.typename()
        possible = self.schema.get_possible_types(gtype)  # type: ignore[arg-type]
        if not possible:
            # No implementation anywhere: only the interface's own fields can be answered.
            fields = self.collector.collect(tname, sub_sets)
            self.plan_object(fetch, graph, tname, fields, out, path, provided, frame)
            return
        shared = self.shared_members(graph, tname, frame) if is_union_type(gtype) else None
        for ptype in possible:
            if not self.member_in_graph(graph, tname, ptype.name):
                continue
            if shared is not None and ptype.name not in shared:
                continue
            defers = self._defers()
            fields = self.collector.collect(ptype.name, sub_sets, defers)
            for key in exclude:
                fields.pop(key, None)
            if not fields and not defers:
                continue
            frag = out.fragment(ptype.name)
            self.plan_object(fetch, graph, ptype.name, fields, frag, path, provided, frame)
            self._sites(defers, fetch, graph, ptype.name, frag, path, provided, frame, fields)

    def plan_object(
        self,
        fetch: Fetch,
        graph: str,
        tname: str,
        fields: Collected,
        out: OutSelection,
        path: PlanPath,
        provided: list[SelectionSetNode] | None,
        frame: Frame | None,
    ) -> None:
        prov = self.provided_map(provided, tname) if provided else None
        missing: list[tuple[str, list[FieldNode]]] = []
        self.stack.append(Position(fetch, graph, tname, out, path, frame, fields))
        try:
            for key, nodes in fields.items():
                fname = nodes[0].name.value
                if fname == "__typename":
                    out.add(key, "__typename")
                elif self.local(graph, tname, fname, prov):
                    self.emit_field(fetch, graph, tname, key, nodes, out, path, prov, frame)
                else:
                    missing.append((key, nodes))
            for key, nodes in missing:
                self.plan_jump(fetch, graph, tname, key, nodes, out, path, fields, frame)
        finally:
            self.stack.pop()

    def emit_field(
        self,
        fetch: Fetch,
        graph: str,
        tname: str,
        key: str,
        nodes: list[FieldNode],
        out: OutSelection,
        path: PlanPath,
        provided: ProvidedMap | None,
        frame: Frame | None,
    ) -> None:
        fname = nodes[0].name.value
        fdef = field_def(self.schema, tname, fname)
        args, variables = print_args(nodes[0])
        fetch.variables |= variables
        composite = not is_leaf_type(named_type(fdef.type))
        out_field = out.add(key, fname, args, composite)
        if not composite or out_field.selection is None:
            return
        sub_provided = self.provides_of(tname, fname, graph)
        if sub_provided is None and provided is not None and fname in provided:
            sub_provided = [s for s in provided[fname] if s is not None]
        sub_sets = [n.selection_set for n in nodes if n.selection_set]
        sub_path = (*path, key, *("@",) * list_depth(fdef.type))
        child_frame = Frame(tname, out, path, key, nodes[0], frame)
        self.plan_composite(
            fetch,
            graph,
            self.graph_field_type(tname, fname, graph),
            sub_sets,
            out_field.selection,
            sub_path,
            sub_provided,
            child_frame,
        )

    # ------------------------------------------------------------------ entity jumps
    @staticmethod
    def present(fetch: Fetch, tname: str, path: PlanPath) -> frozenset[str]:
        """Fields the representation that entered `fetch` already put in the data here."""
        if fetch.entity and path == fetch.path and tname in fetch.reps:
            return frozenset(f.key for f in fetch.reps[tname].fields if f.sub is None)
        return frozenset()

    def choose_target(
        self,
        graph: str,
        tname: str,
        fname: str,
        nodes: list[FieldNode],
        path: PlanPath,
        present: frozenset[str] = frozenset(),
    ) -> tuple[str, Key, str] | None:
        """Pick (subgraph, key, representation typename) to resolve tname.fname from graph."""
        sub_sets = [n.selection_set for n in nodes if n.selection_set]
        best: tuple[tuple[int, int, int, str], tuple[str, Key, str]] | None = None
        owners = [tname]
        gtype = self.schema.get_type(tname)
        if isinstance(gtype, GraphQLObjectType):
            owners += [i.name for i in gtype.interfaces]
        for owner in owners:
            ometa = self.sg.types[owner]
            if owner != tname and not ometa.interface_object_graphs:
                continue
            for target in sorted(ometa.resolvable.get(fname, ())):
                if (tname, fname, path, target) in self.in_progress:
                    continue
                if owner != tname and target not in ometa.interface_object_graphs:
                    continue
                join = self.sg.field_join(owner, fname, target)
                requires = (
                    1
                    if join is not None and (join.requires is not None or join.context_arguments)
                    else 0
                )
                if target == graph and not requires:
                    continue
                cover = self.coverage(
                    target,
                    self.graph_field_type(owner, fname, target),
                    sub_sets,
                    self.provides_of(owner, fname, target),
                )
                for key in ometa.keys.get(target, ()):
                    if not key.resolvable:
                        continue
                    names = {
                        sel.name.value
                        for sel in key.selection.selections
                        if isinstance(sel, FieldNode)
                    }
                    at_hand = names <= present or self.selection_local(graph, tname, key.selection)
                    local_key = 0 if at_hand else 1
                    if local_key and not self.key_obtainable(graph, tname, key.selection):
                        continue
                    score = (local_key, requires, -cover, target)
                    if best is None or score < best[0]:
                        best = (score, (target, key, owner))
            if best is not None:
                break
        return best[1] if best is not None else None

    def plan_jump(
        self,
        fetch: Fetch,
        graph: str,
        tname: str,
        key: str,
        nodes: list[FieldNode],
        out: OutSelection,
        path: PlanPath,
        client: Collected,
        frame: Frame | None,
    ) -> None:
        fname = nodes[0].name.value
        target = self.choose_target(
            graph, tname, fname, nodes, path, self.present(fetch, tname, path)
        )
        if target is None:
            # Keys and @requires fields are read where the entity is; fetching them again
            # through a parent could answer for a different object, so that is refused.
            if (
                frame is not None
                and not self.requiring
                and self.jump_from_parent(fetch, graph, tname, key, nodes, frame)
            ):
                return
            raise PlanError(f"cannot resolve {tname}.{fname} from subgraph {graph}")
        target_graph, entity_key, rep_type = target
        guard = (tname, fname, path, target_graph)
        self.in_progress.add(guard)
        before = len(self.touched)
        reps = self.require(fetch, graph, tname, entity_key.selection, out, path, client, frame)
        join = self.sg.field_join(rep_type, fname, target_graph)
        if join is not None and join.requires is not None:
            required = self.require(fetch, graph, tname, join.requires, out, path, client, frame)
            reps = merge_rep_fields(reps, required)
        parent: Fetch = fetch
        contextual: tuple[ContextVariable, ...] = ()
        if join is not None and join.context_arguments:
            parent, contextual = self.plan_context(fetch, target_graph, rep_type, fname, path)
            nodes = [with_variables(nodes[0], {v.argument: v.name for v in contextual}), *nodes[1:]]
        deps = {fetch, *self.touched[before:]}
        self.in_progress.discard(guard)
        out.typename()
        reps = (RepField("__typename", "__typename"), *reps)
        child = self.child_fetch(parent, target_graph, path, deps, tname, reps)
        self.add_rep(child, tname, rep_type, reps)
        child.context_args = merge_variables(child.context_args, contextual)
        frag = child.selection.fragment(rep_type)
        self.emit_field(child, target_graph, rep_type, key, nodes, frag, path, None, None)

    def plan_context(
        self, fetch: Fetch, graph: str, tname: str, fname: str, path: PlanPath
    ) -> tuple[Fetch, tuple[ContextVariable, ...]]:
        """Plan the values of `tname.fname`'s contextual arguments (as `graph` declares
        them) on the nearest enclosing objects that set their contexts. Returns the fetch
        the entity fetch hangs under (the outermost ancestor read, so that it runs after
        everything the values need) and the variables."""
        join = self.sg.field_join(tname, fname, graph)
        assert join is not None
        names = variable_names(self.sg)
        taken = {v.variable.name.value for v in self.operation.variable_definitions or ()}
        chain: list[Fetch] = []
        current: Fetch | None = fetch
        while current is not None:
            chain.append(current)
            current = current.parent
        parent = fetch
        found: list[ContextVariable] = []
        enclosing = ancestors([p.path for p in self.stack], path)
        for argument in join.context_arguments:
            sources: list[ContextSource] = []
            for index in enclosing:
                position = self.stack[index]
                if position.fetch not in chain or not sets_context(
                    self.sg, position.tname, argument.context
                ):
                    continue
                read = self.require(
                    position.fetch,
                    position.graph,
                    position.tname,
                    selection_of(argument),
                    position.out,
                    position.path,
                    position.client,
                    position.frame,
                )
                value = next((f for f in read if f.name != "__typename"), None)
                if value is None:
                    continue  # no type condition of the selection matches this object
                root = not position.path
                if not root:
                    position.out.typename()
                levels = field_steps(path) - field_steps(position.path)
                kinds = None if root else typenames(self.sg, position.tname)
                sources.append(ContextSource(levels, kinds, value, position.tname))
                if chain.index(position.fetch) > chain.index(parent):
                    parent = position.fetch
                break
            variable = free_name(names[(graph, tname, fname, argument.name)], taken)
            found.append(ContextVariable(variable, argument.name, argument.type, tuple(sources)))
        return parent, tuple(found)

    def jump_from_parent(
        self,
        fetch: Fetch,
        graph: str,
        tname: str,
        key: str,
        nodes: list[FieldNode],
        frame: Frame,
    ) -> bool:
        """Fetch a field of a value type again through the field that led to it: from the
        parent entity's key, or as a root field of another subgraph."""
        fragment = InlineFragmentNode(
            type_condition=NamedTypeNode(name=NameNode(value=tname)),
            directives=(),
            selection_set=SelectionSetNode(selections=tuple(nodes)),
        )
        via = FieldNode(
            alias=NameNode(value=frame.key),
            name=frame.node.name,
            arguments=frame.node.arguments,
            directives=(),
            selection_set=SelectionSetNode(selections=(fragment,)),
        )
        fname = frame.node.name.value
        if frame.tname == self.root_type and not frame.path and not fetch.entity:
            # Re-running a root field elsewhere is for value types only: an entity with a
            # key there is reached by key or not at all (Apollo refuses such plans too).
            missing = nodes[0].name.value
            meta = self.sg.types[tname]
            if self.operation.operation is OperationType.MUTATION or any(
                k.resolvable for g in meta.resolvable.get(missing, ()) for k in meta.keys.get(g, ())
            ):
                return False
            candidates = [
                g
                for g in sorted(self.sg.types[frame.tname].resolvable.get(fname, ()))
                if g != graph and (frame.tname, fname, (), g) not in self.in_progress
            ]
            if not candidates:
                return False
            sub_sets = [via.selection_set] if via.selection_set else []

            def score(g: str) -> int:
                named = self.graph_field_type(frame.tname, fname, g)
                return -self.coverage(g, named, sub_sets, self.provides_of(frame.tname, fname, g))

            target = min(candidates, key=score)
            guard = (frame.tname, fname, (), target)
            self.in_progress.add(guard)
            root = self._root_fetch(target, self.operation.operation.value, reuse=True)
            self.plan_object(
                root, target, frame.tname, {frame.key: [via]}, root.selection, (), None, None
            )
            self.in_progress.discard(guard)
            return True
        present = self.present(fetch, frame.tname, frame.path)
        if self.choose_target(graph, frame.tname, fname, [via], frame.path, present) is None:
            if frame.parent is None:
                return False
            return self.jump_from_parent(fetch, graph, frame.tname, frame.key, [via], frame.parent)
        self.plan_jump(
            fetch, graph, frame.tname, frame.key, [via], frame.out, frame.path, {}, frame.parent
        )
        return True

    def add_rep(
        self, child: Fetch, tname: str, rep_type: str, fields: tuple[RepField, ...]
    ) -> None:
        old = child.reps.get(tname)
        if old is not None:
            fields = merge_rep_fields(old.fields, fields)
        spec = RepSpec(rep_type, fields)
        child.reps[tname] = spec
        if is_interface_type(self.schema.get_type(tname)):
            child.interface_reps[tname] = spec

    def require(
        self,
        fetch: Fetch,
        graph: str,
        tname: str,
        sel_set: SelectionSetNode,
        out: OutSelection,
        path: PlanPath,
        client: Collected,
        frame: Frame | None,
    ) -> tuple[RepField, ...]:
        """Plan fields a representation needs (key or @requires) at this position."""
        internal = internalize(self.schema, tname, sel_set, client)
        fields = self.collector.collect(tname, [internal])
        sent = self.present(fetch, tname, path)
        if sent:
            fields = {k: v for k, v in fields.items() if k not in sent or v[0].selection_set}
        self.requiring += 1
        try:
            self.plan_object(fetch, graph, tname, fields, out, path, None, frame)
        finally:
            self.requiring -= 1
        return rep_fields(self.schema, tname, internal)

    def plan_interface_object(
        self,
        fetch: Fetch,
        graph: str,
        iname: str,
        sub_sets: list[SelectionSetNode],
        out: OutSelection,
        path: PlanPath,
        provided: list[SelectionSetNode] | None,
        frame: Frame | None,
    ) -> None:
        """`graph` sees interface `iname` as an object type (@interfaceObject): it answers
        the interface's own fields; the concrete type and anything else come from a subgraph
        that has the real interface."""
        fields = self.collector.collect(iname, sub_sets)
        prov = self.provided_map(provided, iname) if provided else None
        local = {
            k: v
            for k, v in fields.items()
            if v[0].name.value != "__typename" and self.local(graph, iname, v[0].name.value, prov)
        }
        self.plan_object(fetch, graph, iname, local, out, path, provided, frame)
        done = set(local)
        # Interface fields another @interfaceObject subgraph resolves jump there directly.
        for key, nodes in fields.items():
            fname = nodes[0].name.value
            if key in done or fname == "__typename":
                continue
            if self.choose_target(graph, iname, fname, nodes, path) is not None:
                self.plan_jump(fetch, graph, iname, key, nodes, out, path, fields, frame)
                done.add(key)
        needs_more = len(done) < len(fields) or self.collector.mentions(iname, sub_sets)
        if not needs_more:
            return
        meta = self.sg.types[iname]
        owner: tuple[str, Key] | None = None
        for target in sorted(meta.graphs - meta.interface_object_graphs):
            keys = [k for k in meta.keys.get(target, ()) if k.resolvable]
            if keys:
                owner = (target, keys[0])
                break
        if owner is None:
            raise PlanError(f"no subgraph resolves the concrete type of interface {iname}")
        target, entity_key = owner
        before = len(self.touched)
        reps = self.require(fetch, graph, iname, entity_key.selection, out, path, fields, frame)
        reps = (RepField("__typename", "__typename"), *reps)
        deps = {fetch, *self.touched[before:]}
        out.typename()
        child = self.child_fetch(fetch, target, path, deps, iname, reps)
        self.add_rep(child, iname, iname, reps)
        self.plan_composite(
            child,
            target,
            iname,
            sub_sets,
            child.selection.fragment(iname),
            path,
            None,
            None,
            exclude=frozenset(done),
        )

    # ------------------------------------------------------------------ @defer
    def _defers(self) -> list[Deferral] | None:
        """A list to collect deferred fragments into, when the plan defers any."""
        return [] if self.deferred else None

    def _sites(
        self,
        defers: list[Deferral] | None,
        fetch: Fetch | None,
        graph: str,
        tname: str,
        out: OutSelection,
        path: PlanPath,
        provided: list[SelectionSetNode] | None,
        frame: Frame | None,
        client: Collected,
    ) -> None:
        for deferral in defers or ():
            key = (id(deferral.node), path)
            site = Site(deferral, fetch, graph, tname, out, path, provided, frame, client)
            self.sites.setdefault(key, []).append(site)

    def _build_deferred(self, sequential: bool) -> Plan:
        """Plan each deferred fragment as a block of its own, parents before children
        (`find_deferred`'s order, so a block's sites are known when it is planned)."""
        numbers = {key: n for n, key in enumerate(self.deferred, start=1)}
        by_block_key = {f.key: numbers[f.node] for f in self.deferred.values()}
        for key, number in numbers.items():
            self.block = number
            for site in self.sites.get(key, ()):
                self._plan_site(site)
        self.block = 0
        self._finalize()
        by_block: dict[int, list[Fetch]] = {}
        for fetch in self.fetches:
            by_block.setdefault(fetch.block, []).append(fetch)
        waited: set[Fetch] = set()
        outside: dict[int, set[Fetch]] = {}
        for number, fetches in by_block.items():
            for fetch in fetches:
                for dep in (*fetch.deps, *((fetch.parent,) if fetch.parent else ())):
                    if dep.block != number:
                        outside.setdefault(number, set()).add(dep)
                        waited.add(dep)
        # Printed ids, in planning order, for the fetches a deferred block waits for.
        for ident, fetch in enumerate(sorted(waited, key=lambda f: f.id)):
            fetch.defer_id = ident
        variables = self.variables
        trees: dict[int, tuple[PlanNode | None, tuple[Step, ...]]] = {}
        for number in (0, *numbers.values()):
            fetches = by_block.get(number, [])
            roots = [f for f in fetches if f.parent is None or f.parent.block != number]
            tree = build_tree(roots, fetches, sequential and number == 0)
            trees[number] = (tree, schedule(tree))
        blocks = tuple(
            DeferredBlock(
                number=number,
                key=fragment.key,
                parent=by_block_key[fragment.parent] if fragment.parent is not None else 0,
                label=fragment.label,
                path=fragment.path,
                depends=tuple(
                    sorted(f.defer_id for f in outside.get(number, ()) if f.defer_id is not None)
                ),
                subselection=subselection(fragment.selection_set, self.fragments, variables),
                root=trees[number][0],
                steps=trees[number][1],
            )
            for key, number in numbers.items()
            for fragment in (self.deferred[key],)
        )
        primary = trees[0]
        return Plan(
            primary[0],
            len(self.fetches),
            primary[1],
            deferred=blocks,
            primary_subselection=subselection(
                self.operation.selection_set, self.fragments, variables
            ),
        )

    def _plan_site(self, site: Site) -> None:
        """Plan a deferred fragment where it was met, as Apollo does: on an entity, the
        fields its subgraph resolves come back from it through an `_entities` fetch of their
        own (the key selected where the object is), and every other field jumps to its own
        subgraph from there, in parallel. Fields only `@provides` gives, and all fields of
        an object its subgraph has no key for, ride along with the fetch that has the
        object; the block then only delivers them."""
        selection = site.deferral.selection_set
        if site.fetch is None:
            self.plan_root(selection, site.path, sequential=False)
            return
        fetch, graph, tname, path = site.fetch, site.graph, site.tname, site.path
        defers = self._defers()
        fields = self.collector.collect(tname, [selection], defers)
        prov = self.provided_map(site.provided, tname) if site.provided else None
        back = self._key_back(graph, tname)
        own: Collected = {}
        along: Collected = {}
        rest: Collected = {}
        for key, nodes in fields.items():
            fname = nodes[0].name.value
            if fname != "__typename" and back is not None and self.local(graph, tname, fname, None):
                own[key] = nodes
            elif fname == "__typename" or self.local(graph, tname, fname, prov):
                along[key] = nodes
            else:
                rest[key] = nodes
        client = {**site.client, **fields}
        if own and back is not None:
            before = len(self.touched)
            reps = self.require(
                fetch, graph, tname, back.selection, site.out, path, client, site.frame
            )
            reps = (RepField("__typename", "__typename"), *reps)
            site.out.typename()
            deps = {fetch, *self.touched[before:]}
            child = self.child_fetch(fetch, graph, path, deps, tname, reps)
            self.add_rep(child, tname, tname, reps)
            frag = child.selection.fragment(tname)
            self.plan_object(child, graph, tname, own, frag, path, None, None)
        self.plan_object(
            fetch,
            graph,
            tname,
            {**along, **rest},
            site.out,
            path,
            site.provided,
            site.frame,
        )
        self._sites(defers, fetch, graph, tname, site.out, path, site.provided, site.frame, client)

    def _key_back(self, graph: str, tname: str) -> Key | None:
        """A key `graph` resolves `tname` by and can select itself: the way back to it."""
        if not is_object_type(self.schema.get_type(tname)):
            return None
        meta = self.sg.types.get(tname)
        for key in meta.keys.get(graph, ()) if meta is not None else ():
            if key.resolvable and self.selection_local(graph, tname, key.selection):
                return key
        return None

    # ------------------------------------------------------------------ finishing
    def _finalize(self) -> None:
        merge_siblings(self.fetches)
        definitions = {v.variable.name.value: v for v in self.operation.variable_definitions or ()}
        for fetch in self.fetches:
            fetch.selection.prune()
            fetch.renames = resolve_conflicts(self.sg, fetch)
            fetch.service = self.sg.subgraphs[fetch.graph].name
            contextual = {v.name: v.type for v in fetch.context_args}
            names = tuple(sorted(fetch.variables - contextual.keys()))
            fetch.variable_names = names
            defs = [f"${name}:{kind}" for name, kind in contextual.items()]
            for name in names:
                vdef = definitions[name]
                text = f"${name}:{print_ast(vdef.type)}"
                if vdef.default_value is not None:
                    text += f"={print_ast(vdef.default_value)}"
                defs.append(text)
            fetch.variable_defs = tuple(defs)
            if fetch.entity:
                head = ",".join(["$representations:[_Any!]!", *defs])
                fetch.entities_selection = fetch.selection.print()
                fetch.document = (
                    f"query({head}){{_entities(representations:$representations)"
                    f"{fetch.entities_selection}}}"
                )
            else:
                head = f"({','.join(defs)})" if defs else ""
                fetch.document = f"{fetch.operation_kind}{head}{fetch.selection.print()}"
