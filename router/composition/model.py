"""The merged supergraph, before printing: types with their join metadata.

merge.py builds it, postmerge.py and satisfiability.py check it, emit.py prints it. Join
records mirror the arguments of the `join__*` directives one to one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphql import ConstValueNode, DirectiveDefinitionNode, TypeNode

from router.composition.definitions import Applied, Kind, Link


@dataclass(frozen=True, slots=True)
class JoinType:
    graph: str
    key: str | None = None
    extension: bool = False
    resolvable: bool | None = None  # None: not written, which means resolvable
    interface_object: bool = False

    @property
    def is_resolvable(self) -> bool:
        return self.resolvable is not False


@dataclass(frozen=True, slots=True)
class JoinField:
    """One `@join__field`; `graph` None is the bare form Apollo writes for fields an
    implementation only gets through an `@interfaceObject`."""

    graph: str | None
    requires: str | None = None
    provides: str | None = None
    type: str | None = None
    external: bool = False
    override: str | None = None
    used_overridden: bool = False
    override_label: str | None = None
    # `@fromContext` arguments: (context, name, type, selection), as join__ContextArgument.
    context_arguments: tuple[tuple[str, str, str, str], ...] = ()


@dataclass(slots=True)
class MergedArg:
    name: str
    type: TypeNode
    default: ConstValueNode | None
    description: str | None
    applied: Applied


@dataclass(slots=True)
class MergedField:
    name: str
    type: TypeNode
    description: str | None = None
    args: dict[str, MergedArg] = field(default_factory=dict)
    applied: Applied = field(default_factory=Applied)
    default: ConstValueNode | None = None
    joins: list[JoinField] | None = None  # None: every graph of the type resolves it


@dataclass(slots=True)
class MergedEnumValue:
    name: str
    description: str | None = None
    applied: Applied = field(default_factory=Applied)
    graphs: list[str] = field(default_factory=list)


@dataclass(slots=True)
class MergedType:
    name: str
    kind: Kind
    description: str | None = None
    applied: Applied = field(default_factory=Applied)
    join_types: list[JoinType] = field(default_factory=list)
    fields: dict[str, MergedField] = field(default_factory=dict)
    interfaces: list[str] = field(default_factory=list)
    implements: list[tuple[str, str]] = field(default_factory=list)  # (graph, interface)
    members: list[str] = field(default_factory=list)
    union_members: list[tuple[str, str]] = field(default_factory=list)  # (graph, member)
    values: dict[str, MergedEnumValue] = field(default_factory=dict)
    contexts: list[str] = field(default_factory=list)  # `<subgraph>__<name>`, per @context

    @property
    def graphs(self) -> list[str]:
        seen: list[str] = []
        for join in self.join_types:
            if join.graph not in seen:
                seen.append(join.graph)
        return seen


@dataclass(frozen=True, slots=True)
class Graph:
    enum: str  # the join__Graph value
    name: str
    url: str


@dataclass(slots=True)
class MergedSchema:
    graphs: list[Graph]
    types: dict[str, MergedType]
    join_version: str
    roots: dict[str, str]  # operation -> type name, for the roots that exist
    description: str | None = None
    uses_inaccessible: bool = False
    uses_tag: bool = False
    # Authorization directives used anywhere (each brings its @link and definition).
    security: tuple[str, ...] = ()
    # Cost spec directives used anywhere (`cost`, `listSize`): they bring its @link.
    cost: tuple[str, ...] = ()
    uses_context: bool = False  # some subgraph sets a @context: the context spec is linked
    tag_name: str = "tag"  # as subgraphs import it
    inaccessible_name: str = "inaccessible"
    composed: list[tuple[DirectiveDefinitionNode, Link]] = field(default_factory=list)
    executable: list[DirectiveDefinitionNode] = field(default_factory=list)

    def graph_enum(self, name: str) -> str:
        return next(g.enum for g in self.graphs if g.name == name)
