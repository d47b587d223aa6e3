"""What composition knows about one subgraph: its types, fields, keys and links, as read by
`subgraph.py` and walked by `fieldset.py`, `merge.py` and the checks. Plain data, so every
stage of composition imports it and it imports none of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from graphql import (
    ConstValueNode,
    DirectiveDefinitionNode,
    DirectiveNode,
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    TypeNode,
)

Kind = Literal["object", "interface", "union", "enum", "input", "scalar"]


@dataclass(slots=True)
class Applied:
    """Directive applications that survive into the supergraph."""

    inaccessible: bool = False
    tags: list[str] = field(default_factory=list)
    kept: list[DirectiveNode] = field(default_factory=list)  # built-ins and composed ones
    # Authorization directives: @authenticated, and the values of @requiresScopes(scopes:)
    # and @policy(policies:) (each an OR of ANDs), one per application before merging.
    authenticated: bool = False
    scopes: list[list[list[str]]] = field(default_factory=list)
    policies: list[list[list[str]]] = field(default_factory=list)
    # Set by merging: the order Apollo prints them in, by the first subgraph applying each.
    security_order: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ArgDef:
    name: str
    type: TypeNode
    default: ConstValueNode | None
    description: str | None
    applied: Applied
    from_context: str | None = None  # `@fromContext(field:)`: "$context { selection }"


@dataclass(slots=True)
class FieldDef:
    name: str
    type: TypeNode
    description: str | None
    args: dict[str, ArgDef]
    applied: Applied
    default: ConstValueNode | None = None  # input fields only
    external: bool = False
    shareable: bool = False
    used: bool = False  # selected by a @key/@requires/@provides, or implements an interface field
    provided: bool = False  # selected by some @provides of this subgraph
    requires: str | None = None
    provides: str | None = None
    override: str | None = None
    override_label: str | None = None

    @property
    def type_name(self) -> str:
        return named_type(self.type)


@dataclass(slots=True)
class EnumValueDef:
    name: str
    description: str | None
    applied: Applied


@dataclass(frozen=True, slots=True)
class KeyDef:
    fields: str
    resolvable: bool | None  # None: not written (Apollo repeats only what was written)
    extension: bool

    @property
    def is_resolvable(self) -> bool:
        return self.resolvable is not False


@dataclass(slots=True)
class TypeDef:
    name: str
    kind: Kind
    description: str | None = None
    applied: Applied = field(default_factory=Applied)
    fields: dict[str, FieldDef] = field(default_factory=dict)
    interfaces: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    values: dict[str, EnumValueDef] = field(default_factory=dict)
    keys: list[KeyDef] = field(default_factory=list)
    interface_object: bool = False
    extends: bool = False  # @extends, or only ever written as `extend type`
    has_definition: bool = False
    contexts: list[str] = field(default_factory=list)  # `@context(name:)`, as written

    @property
    def is_entity(self) -> bool:
        return bool(self.keys)


@dataclass(frozen=True, slots=True)
class Link:
    url: str
    prefix: str
    imports: dict[str, str]  # "@name" in the spec -> "@local" in this schema
    purpose: str | None = None

    @property
    def identity(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[0]

    @property
    def version(self) -> tuple[int, int]:
        return parse_version(self.url)


@dataclass(slots=True)
class Subgraph:
    name: str
    url: str
    fed2: bool
    version: tuple[int, int]
    types: dict[str, TypeDef]
    links: list[Link]
    directive_names: dict[str, str]  # canonical federation name -> name in this schema
    directive_defs: dict[str, DirectiveDefinitionNode]  # non-federation definitions
    composed: list[str]  # names (without @) given to @composeDirective
    roots: dict[str, str]  # operation -> type name, after normalisation to Query/...
    # (directive, where): applied but never defined, or where it is not allowed
    unknown: list[tuple[str, str]] = field(default_factory=list)
    description: str | None = None  # of the schema definition

    def link_for_directive(self, name: str) -> Link | None:
        for link in self.links:
            if f"@{name}" in link.imports.values() or name.startswith(f"{link.prefix}__"):
                return link
        return None


def parse_version(url: str) -> tuple[int, int]:
    tail = url.rstrip("/").rsplit("/", 1)[-1].lstrip("v")
    major, _, minor = tail.partition(".")
    try:
        return int(major), int(minor or 0)
    except ValueError:
        return (0, 0)


def named_type(node: TypeNode) -> str:
    while isinstance(node, ListTypeNode | NonNullTypeNode):
        node = node.type
    assert isinstance(node, NamedTypeNode)
    return node.name.value
