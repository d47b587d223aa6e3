"""Read a supergraph SDL (link v1.0, join v0.3+) into the facts the planner needs.

The supergraph's own schema (every type and field, `@inaccessible` ones included, because
keys and `@requires` may use them) is built with graphql-core; the `join__*` directives are
read from the AST into small per-type and per-field records.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from graphql import (
    BooleanValueNode,
    DirectiveNode,
    EnumTypeDefinitionNode,
    EnumTypeExtensionNode,
    EnumValueNode,
    GraphQLSchema,
    InterfaceTypeDefinitionNode,
    InterfaceTypeExtensionNode,
    ListTypeNode,
    ListValueNode,
    NamedTypeNode,
    NonNullTypeNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SchemaDefinitionNode,
    SchemaExtensionNode,
    SelectionSetNode,
    StringValueNode,
    TypeDefinitionNode,
    TypeNode,
    UnionTypeDefinitionNode,
    UnionTypeExtensionNode,
    ValueNode,
    build_ast_schema,
    parse,
)
from graphql.language import DocumentNode


class SupergraphError(ValueError):
    """The SDL is not a supergraph this router can serve."""


@dataclass(frozen=True, slots=True)
class Key:
    graph: str
    fields: str
    selection: SelectionSetNode
    resolvable: bool


@dataclass(frozen=True, slots=True)
class ContextArgument:
    """One `join__ContextArgument`: argument `name` of the field takes its value from
    `selection` on the nearest enclosing object whose type sets `context`."""

    name: str
    type: str
    context: str
    selection: str


@dataclass(frozen=True, slots=True)
class FieldJoin:
    """One `@join__field`; `graph` is None for the bare form (no subgraph resolves it)."""

    graph: str | None
    external: bool = False
    requires: SelectionSetNode | None = None
    provides: SelectionSetNode | None = None
    override: str | None = None
    used_overridden: bool = False
    type: str | None = None
    # Progressive override: this side resolves the field only while the label is active
    # (the overriding side, `override` set) or only while it is not (the overridden side).
    override_label: str | None = None
    context_arguments: tuple[ContextArgument, ...] = ()

    def resolves(self, labels: frozenset[str]) -> bool:
        if self.graph is None or self.external:
            return False
        if self.override_label is not None:
            # The overridden side may also be `usedOverridden` (a key or interface uses the
            # field there): it still resolves the field while the label is off.
            return (self.override_label in labels) == (self.override is not None)
        return not self.used_overridden


@dataclass(slots=True)
class TypeMeta:
    name: str
    graphs: set[str] = field(default_factory=set)
    keys: dict[str, list[Key]] = field(default_factory=dict)
    interface_object_graphs: set[str] = field(default_factory=set)
    implements: dict[str, set[str]] = field(default_factory=dict)
    union_members: dict[str, set[str]] = field(default_factory=dict)
    field_joins: dict[str, list[FieldJoin]] = field(default_factory=dict)
    contexts: set[str] = field(default_factory=set)  # `@context(name:)` set on this type
    # Fields that at least one subgraph resolves, per graph (computed once).
    resolvable: dict[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Subgraph:
    id: str  # the join__Graph enum value, as join directives name it
    name: str
    url: str


@lru_cache(maxsize=4096)
def parse_selection(fields: str) -> SelectionSetNode:
    """Parse a FieldSet string (`id`, `a { b } c(x: 1)`) into a selection set."""
    doc = parse("{" + fields + "}", no_location=True)
    op = doc.definitions[0]
    assert isinstance(op, OperationDefinitionNode)
    return op.selection_set


def _args(directive: DirectiveNode) -> dict[str, ValueNode]:
    return {arg.name.value: arg.value for arg in directive.arguments or ()}


def _str(value: ValueNode | None) -> str | None:
    if isinstance(value, StringValueNode):
        return value.value
    if isinstance(value, EnumValueNode):
        return value.value
    return None


def _bool(value: ValueNode | None) -> bool:
    return isinstance(value, BooleanValueNode) and value.value


class Supergraph:
    """The parsed supergraph: schema, subgraphs and join metadata."""

    def __init__(self, sdl: str) -> None:
        self.sdl = sdl
        self.document: DocumentNode = parse(sdl, no_location=True)
        self.links, directive_names = _read_links(self.document)
        join = self.links.get("join")
        if join is None:
            raise SupergraphError("not a supergraph: no @link to the join spec")
        self.join_prefix = join
        # What @inaccessible and @tag are called here: composition keeps a subgraph's rename
        # (`import: [{name: "@inaccessible", as: "@hidden"}]`).
        self.inaccessible_name = directive_names.get("inaccessible", "inaccessible")
        # Local names of the linked specs' directives (authenticated, requiresScopes, …).
        self.spec_directives: dict[str, str] = directive_names
        self.tag_name = directive_names.get("tag", "tag")
        self.context_name = directive_names.get("context", "context")
        self.schema: GraphQLSchema = build_ast_schema(self.document, assume_valid_sdl=True)
        self.subgraphs: dict[str, Subgraph] = {}
        self.types: dict[str, TypeMeta] = {}
        self._read_graphs()
        self._read_types()
        # Every progressive override label; a plan is made per set of active ones.
        self.override_labels = frozenset(
            j.override_label
            for meta in self.types.values()
            for joins in meta.field_joins.values()
            for j in joins
            if j.override_label is not None
        )
        self._label_views: dict[frozenset[str], Supergraph] = {}

    @classmethod
    def from_file(cls, path: str | Path) -> Supergraph:
        return cls(Path(path).read_text(encoding="utf-8"))

    # ------------------------------------------------------------------ reading
    def _join(self, name: str) -> str:
        return f"{self.join_prefix}__{name}"

    def _read_graphs(self) -> None:
        graph_enum = self._join("Graph")
        for definition in self.document.definitions:
            if isinstance(definition, EnumTypeDefinitionNode | EnumTypeExtensionNode) and (
                definition.name.value == graph_enum
            ):
                for value in definition.values or ():
                    for directive in value.directives or ():
                        if directive.name.value == self._join("graph"):
                            args = _args(directive)
                            self.subgraphs[value.name.value] = Subgraph(
                                id=value.name.value,
                                name=_str(args.get("name")) or value.name.value.lower(),
                                url=_str(args.get("url")) or "",
                            )
        if not self.subgraphs:
            raise SupergraphError("supergraph declares no subgraphs (join__Graph)")

    def _read_types(self) -> None:
        type_dir, field_dir = self._join("type"), self._join("field")
        implements_dir, member_dir = self._join("implements"), self._join("unionMember")
        for definition in self.document.definitions:
            if not isinstance(
                definition, TypeDefinitionNode | ObjectTypeExtensionNode | UnionTypeExtensionNode
            ) and not isinstance(definition, InterfaceTypeExtensionNode):
                continue
            name = definition.name.value
            meta = self.types.setdefault(name, TypeMeta(name))
            for directive in definition.directives or ():
                args = _args(directive)
                dname = directive.name.value
                if dname == self.context_name:
                    meta.contexts.add(_str(args.get("name")) or "")
                    continue
                graph = _str(args.get("graph"))
                if graph is None:
                    continue
                if dname == type_dir:
                    meta.graphs.add(graph)
                    key = _str(args.get("key"))
                    if key is not None:
                        resolvable = args.get("resolvable")
                        meta.keys.setdefault(graph, []).append(
                            Key(
                                graph,
                                key,
                                parse_selection(key),
                                resolvable is None or _bool(resolvable),
                            )
                        )
                    if _bool(args.get("isInterfaceObject")):
                        meta.interface_object_graphs.add(graph)
                elif dname == implements_dir:
                    iface = _str(args.get("interface"))
                    if iface:
                        meta.implements.setdefault(graph, set()).add(iface)
                elif dname == member_dir:
                    member = _str(args.get("member"))
                    if member:
                        meta.union_members.setdefault(graph, set()).add(member)
            if isinstance(
                definition,
                ObjectTypeDefinitionNode
                | ObjectTypeExtensionNode
                | InterfaceTypeDefinitionNode
                | InterfaceTypeExtensionNode,
            ):
                for fdef in definition.fields or ():
                    joins = [
                        self._field_join(d)
                        for d in fdef.directives or ()
                        if d.name.value == field_dir
                    ]
                    if joins:
                        meta.field_joins[fdef.name.value] = joins
            if isinstance(definition, UnionTypeDefinitionNode) and not any(
                d.name.value == member_dir for d in definition.directives or ()
            ):
                # Without join__unionMember every graph of the union knows every member.
                members = {t.name.value for t in definition.types or ()}
                for graph in meta.graphs:
                    meta.union_members[graph] = set(members)
        for meta in self.types.values():
            if not meta.graphs:
                meta.graphs = set(self.subgraphs)
            gql_type = self.schema.get_type(meta.name)
            fields = getattr(gql_type, "fields", None) or {}
            for fname in fields:
                meta.resolvable[fname] = self._resolvable(meta, fname, frozenset())

    def _field_join(self, directive: DirectiveNode) -> FieldJoin:
        args = _args(directive)
        requires = _str(args.get("requires"))
        provides = _str(args.get("provides"))
        return FieldJoin(
            graph=_str(args.get("graph")),
            external=_bool(args.get("external")),
            requires=parse_selection(requires) if requires else None,
            provides=parse_selection(provides) if provides else None,
            override=_str(args.get("override")),
            used_overridden=_bool(args.get("usedOverridden")),
            type=_str(args.get("type")),
            override_label=_str(args.get("overrideLabel")),
            context_arguments=_context_arguments(args.get("contextArguments")),
        )

    @staticmethod
    def _resolvable(meta: TypeMeta, fname: str, labels: frozenset[str]) -> frozenset[str]:
        joins = meta.field_joins.get(fname)
        if joins is None:
            return frozenset(meta.graphs)
        return frozenset(j.graph for j in joins if j.graph is not None and j.resolves(labels))

    def with_labels(self, active: frozenset[str]) -> Supergraph:
        """This supergraph as the planner sees it while the override labels `active` are
        on (the others off): the same object for none, else a view sharing everything but
        the metadata of the labelled fields' types. Views are kept: labels are few."""
        active = active & self.override_labels
        if not active:
            return self
        view = self._label_views.get(active)
        if view is None:
            view = copy.copy(self)
            view._label_views = {}
            view.types = dict(self.types)
            for name, meta in self.types.items():
                labelled = [
                    fname
                    for fname, joins in meta.field_joins.items()
                    if any(j.override_label is not None for j in joins)
                ]
                if labelled:
                    resolvable = dict(meta.resolvable)
                    for fname in labelled:
                        resolvable[fname] = self._resolvable(meta, fname, active)
                    view.types[name] = dataclasses.replace(meta, resolvable=resolvable)
            self._label_views[active] = view
        return view

    # ------------------------------------------------------------------ queries
    def field_join(self, type_name: str, fname: str, graph: str) -> FieldJoin | None:
        for join in self.types[type_name].field_joins.get(fname, ()):
            if join.graph == graph:
                return join
        return None


def _context_arguments(value: ValueNode | None) -> tuple[ContextArgument, ...]:
    if not isinstance(value, ListValueNode):
        return ()
    found = []
    for item in value.values:
        if isinstance(item, ObjectValueNode):
            fields = {f.name.value: _str(f.value) or "" for f in item.fields}
            found.append(
                ContextArgument(
                    fields.get("name", ""),
                    fields.get("type", ""),
                    fields.get("context", ""),
                    fields.get("selection", ""),
                )
            )
    return tuple(found)


def _read_links(document: DocumentNode) -> tuple[dict[str, str], dict[str, str]]:
    """Read the schema's `@link`s.

    Returns the prefix each spec's elements carry (join, link, inaccessible, … → `join__`
    etc.) and the local name of each spec's own directive (`@inaccessible` imported
    `as: "@hidden"` is `hidden`; a link `as: "x"` names both).
    """
    links: dict[str, str] = {}
    directives: dict[str, str] = {}
    for definition in document.definitions:
        if not isinstance(definition, SchemaDefinitionNode | SchemaExtensionNode):
            continue
        for directive in definition.directives or ():
            if directive.name.value not in ("link", "core"):
                continue
            args = _args(directive)
            url = _str(args.get("url")) or _str(args.get("feature"))
            if not url:
                continue
            parts = url.rstrip("/").split("/")
            spec = parts[-2] if len(parts) >= 2 else parts[-1]
            prefix = _str(args.get("as")) or spec
            links[spec] = prefix
            directives[spec] = _imported_as(args.get("import"), spec) or prefix
    return links, directives


def _imported_as(imports: ValueNode | None, spec: str) -> str | None:
    """The local name under which `import: [...]` brings in the spec's `@<spec>` directive."""
    if not isinstance(imports, ListValueNode):
        return None
    wanted = f"@{spec}"
    for item in imports.values:
        if isinstance(item, StringValueNode) and item.value == wanted:
            return spec
        if isinstance(item, ObjectValueNode):
            fields = {f.name.value: _str(f.value) for f in item.fields}
            if fields.get("name") == wanted:
                return (fields.get("as") or wanted).lstrip("@")
    return None


def named_type_name(node: TypeNode) -> str:
    while isinstance(node, ListTypeNode | NonNullTypeNode):
        node = node.type
    assert isinstance(node, NamedTypeNode)
    return node.name.value
