"""Parse one Federation v2 subgraph SDL into the facts composition needs.

Reads the `@link` imports (with renames and namespaced `federation__` names) so later
stages only ask "is this field @external" and never look at directive spellings; folds
`extend type` into its type; drops the federation machinery (`_service`, `_Entity`, …).
A subgraph without a federation `@link` is Federation 1: it is read with the canonical
directive names and every object field counts as shareable, which is what Apollo's
upgrade of such a subgraph amounts to for the simple schemas Strawberry prints.
"""

from __future__ import annotations

import re

from graphql import (
    BooleanValueNode,
    ConstDirectiveNode,
    DirectiveDefinitionNode,
    DirectiveNode,
    EnumTypeDefinitionNode,
    EnumTypeExtensionNode,
    EnumValueDefinitionNode,
    FieldDefinitionNode,
    GraphQLSyntaxError,
    InputObjectTypeDefinitionNode,
    InputObjectTypeExtensionNode,
    InputValueDefinitionNode,
    InterfaceTypeDefinitionNode,
    InterfaceTypeExtensionNode,
    ListTypeNode,
    ListValueNode,
    NamedTypeNode,
    NameNode,
    NonNullTypeNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    ObjectValueNode,
    ScalarTypeDefinitionNode,
    ScalarTypeExtensionNode,
    SchemaDefinitionNode,
    SchemaExtensionNode,
    StringValueNode,
    TypeDefinitionNode,
    TypeExtensionNode,
    TypeNode,
    UnionTypeDefinitionNode,
    UnionTypeExtensionNode,
    ValueNode,
    parse,
)

from router.composition import errors
from router.composition.definitions import (
    Applied,
    ArgDef,
    EnumValueDef,
    FieldDef,
    KeyDef,
    Kind,
    Link,
    Subgraph,
    TypeDef,
    named_type,
)
from router.composition.errors import CompositionError
from router.composition.fieldset import target_fields
from router.composition.sources import SubgraphSource

FEDERATION_SPEC = "https://specs.apollo.dev/federation/"
FEDERATION_DIRECTIVES = (
    "key",
    "external",
    "requires",
    "provides",
    "shareable",
    "override",
    "inaccessible",
    "tag",
    "interfaceObject",
    "extends",
    "composeDirective",
    "authenticated",
    "requiresScopes",
    "policy",
    "context",
    "fromContext",
    "cost",
    "listSize",
)
FEDERATION_1_DIRECTIVES = frozenset(
    {"key", "external", "requires", "provides", "extends", "tag", "inaccessible"}
)
# Federation directives valid on only one of types and fields: elsewhere they are misplaced.
FIELD_ONLY = ("override", "requires", "provides")
TYPE_ONLY = ("key", "extends", "interfaceObject")
# Directives a supergraph keeps from subgraphs besides @inaccessible, @tag and composed ones.
BUILT_IN_KEPT = frozenset({"deprecated", "specifiedBy", "oneOf"})
# Read where they apply (types, arguments) and printed as join metadata, never kept as is.
CONTEXT_DIRECTIVES = frozenset({"context", "fromContext"})
# Demand control (Apollo's cost spec, federation 2.9): kept in the supergraph as applied,
# under these names, and merged per argument (directives.py).
COST_DIRECTIVES = ("cost", "listSize")
# The authorization directives (Apollo's SECURITY features), kept in the supergraph.
SECURITY_DIRECTIVES = ("authenticated", "requiresScopes", "policy")
BUILT_IN_SCALARS = frozenset({"String", "Int", "Float", "Boolean", "ID"})
MACHINERY_TYPES = frozenset(
    {"_Service", "_Entity", "_Any", "_FieldSet", "FieldSet", "link__Import", "link__Purpose"}
)
MACHINERY_QUERY_FIELDS = frozenset({"_entities", "_service"})
ROOT_NAMES = {"query": "Query", "mutation": "Mutation", "subscription": "Subscription"}


class SubgraphParseError(ValueError):
    def __init__(self, error: CompositionError) -> None:
        super().__init__(str(error))
        self.error = error


def _args(directive: DirectiveNode) -> dict[str, ValueNode]:
    return {a.name.value: a.value for a in directive.arguments or ()}


def _string(value: ValueNode | None) -> str | None:
    return value.value if isinstance(value, StringValueNode) else None


def _dnf(value: ValueNode | None) -> list[list[str]]:
    """A `[[String!]!]!` argument (scopes, policies) as lists; a single string or a flat list
    is coerced the way GraphQL input coercion does."""
    if isinstance(value, StringValueNode):
        return [[value.value]]
    if not isinstance(value, ListValueNode):
        return []
    out: list[list[str]] = []
    for item in value.values:
        if isinstance(item, ListValueNode):
            out.append([v.value for v in item.values if isinstance(v, StringValueNode)])
        elif isinstance(item, StringValueNode):
            out.append([item.value])
    return out


def _description(node: object) -> str | None:
    description = getattr(node, "description", None)
    return description.value if description is not None else None


def _read_link(directive: DirectiveNode) -> Link | None:
    args = _args(directive)
    url = _string(args.get("url"))
    if url is None:
        return None
    spec = url.rstrip("/").rsplit("/", 2)[-2] if url.count("/") >= 2 else url
    prefix = _string(args.get("as")) or spec
    imports: dict[str, str] = {}
    raw = args.get("import")
    for item in raw.values if isinstance(raw, ListValueNode) else ():
        if isinstance(item, StringValueNode):
            imports[item.value] = item.value
        elif isinstance(item, ObjectValueNode):
            fields = {f.name.value: _string(f.value) for f in item.fields}
            name, alias = fields.get("name"), fields.get("as")
            if name:
                imports[name] = alias or name
    purpose = args.get("for")
    return Link(url, prefix, imports, getattr(purpose, "value", None))


def _schema_directives(document_definitions: tuple[object, ...]) -> list[ConstDirectiveNode]:
    found: list[ConstDirectiveNode] = []
    for definition in document_definitions:
        if isinstance(definition, SchemaDefinitionNode | SchemaExtensionNode):
            found.extend(definition.directives or ())
    return found


class _Reader:
    """Turns one parsed document into a Subgraph (one instance per subgraph)."""

    def __init__(self, source: SubgraphSource) -> None:
        self.source = source
        try:
            self.document = parse(source.sdl)
        except GraphQLSyntaxError as error:
            raise SubgraphParseError(
                CompositionError(
                    errors.INVALID_GRAPHQL, f"syntax error: {error.message}", (source.name,)
                )
            ) from None
        definitions = tuple(self.document.definitions)
        schema_directives = _schema_directives(definitions)
        self.links = [
            link
            for d in schema_directives
            if d.name.value == "link" and (link := _read_link(d)) is not None
        ]
        federation = next((x for x in self.links if x.url.startswith(FEDERATION_SPEC)), None)
        self.fed2 = federation is not None
        self.version = federation.version if federation else (1, 0)
        self.defined = {d.name.value for d in definitions if isinstance(d, DirectiveDefinitionNode)}
        if federation is None:
            # Federation 1 knows only these (and @override if the subgraph defines it); any
            # other name is the subgraph's own directive.
            self.names = {
                name: name
                if name in FEDERATION_1_DIRECTIVES or (name == "override" and name in self.defined)
                else f"federation__{name}"
                for name in FEDERATION_DIRECTIVES
            }
        else:
            self.names = {
                name: federation.imports.get(f"@{name}", f"@{federation.prefix}__{name}")[1:]
                for name in FEDERATION_DIRECTIVES
            }
        self.canonical = {local: name for name, local in self.names.items()}
        self.composed = [
            name.lstrip("@")
            for d in schema_directives
            if self.canonical.get(d.name.value) == "composeDirective"
            and (name := _string(_args(d).get("name")))
        ]
        self.roots = dict(ROOT_NAMES)
        for definition in definitions:
            if isinstance(definition, SchemaDefinitionNode | SchemaExtensionNode):
                for op in definition.operation_types or ():
                    self.roots[op.operation.value] = op.type.name.value
        self.unknown: list[tuple[str, str]] = []  # applied but never defined
        self.renamed_roots = {
            actual: ROOT_NAMES[op] for op, actual in self.roots.items() if actual != ROOT_NAMES[op]
        }
        self.machinery_prefixes = (
            *tuple(
                f"{link.prefix}__"
                for link in self.links
                if link.url.startswith("https://specs.apollo.dev/")
            ),
            "link__",
            "federation__",
        )

    # -------------------------------------------------------------- directives
    def fed(self, directives: tuple[DirectiveNode, ...] | None, name: str) -> list[DirectiveNode]:
        local = self.names[name]
        return [d for d in directives or () if d.name.value == local]

    def applied(self, directives: tuple[DirectiveNode, ...] | None, where: str) -> Applied:
        applied = Applied()
        for directive in directives or ():
            name = directive.name.value
            canonical = self.canonical.get(name)
            if canonical in CONTEXT_DIRECTIVES:
                continue
            if canonical == "inaccessible":
                applied.inaccessible = True
            elif canonical == "authenticated":
                applied.authenticated = True
            elif canonical == "requiresScopes":
                applied.scopes.append(_dnf(_args(directive).get("scopes")))
            elif canonical == "policy":
                applied.policies.append(_dnf(_args(directive).get("policies")))
            elif canonical in COST_DIRECTIVES:
                # Printed under the spec's name whatever the subgraph imported it as.
                applied.kept.append(
                    DirectiveNode(name=NameNode(value=canonical), arguments=directive.arguments)
                )
            elif canonical == "tag":
                tag = _string(_args(directive).get("name"))
                if tag is not None and tag not in applied.tags:
                    applied.tags.append(tag)
            elif canonical is None and (name in BUILT_IN_KEPT or name in self.composed):
                applied.kept.append(directive)
            elif canonical is None and name not in self.defined:
                self.unknown.append((f"@{name}", where))
        return applied

    def typeref(self, node: TypeNode) -> TypeNode:
        name = named_type(node)
        if name not in self.renamed_roots:
            return node
        if isinstance(node, NonNullTypeNode):
            inner = self.typeref(node.type)
            assert isinstance(inner, NamedTypeNode | ListTypeNode)
            return NonNullTypeNode(type=inner)
        if isinstance(node, ListTypeNode):
            return ListTypeNode(type=self.typeref(node.type))
        return parse_type_name(self.renamed_roots[name])

    # -------------------------------------------------------------- types
    def read(self) -> Subgraph:
        types: dict[str, TypeDef] = {}
        directive_defs: dict[str, DirectiveDefinitionNode] = {}
        for definition in self.document.definitions:
            if isinstance(definition, DirectiveDefinitionNode):
                name = definition.name.value
                if (
                    name not in self.canonical
                    and name != "link"
                    and not name.startswith(self.machinery_prefixes)
                ):
                    directive_defs[name] = definition
                continue
            kind = _kind(definition)
            if kind is None or not isinstance(definition, TypeDefinitionNode | TypeExtensionNode):
                continue
            name = definition.name.value
            if (
                name in MACHINERY_TYPES
                or name in BUILT_IN_SCALARS
                or name.startswith(self.machinery_prefixes)
            ):
                continue  # federation machinery, or a redefinition of a built-in scalar
            name = self.renamed_roots.get(name, name)
            self.add_definition(types, name, kind, definition)
        for tdef in types.values():
            if tdef.name == "Query":
                for machinery in MACHINERY_QUERY_FIELDS:
                    tdef.fields.pop(machinery, None)
        # Every subgraph has a Query type (its _entities and _service live there), so
        # Apollo gives Query a join__type for every subgraph, as we do.
        types.setdefault("Query", TypeDef("Query", "object", has_definition=True))
        self.mark_fields(types)
        return Subgraph(
            name=self.source.name,
            url=self.source.url,
            fed2=self.fed2,
            version=self.version,
            types=types,
            links=self.links,
            directive_names=self.names,
            directive_defs=directive_defs,
            composed=self.composed,
            roots={op: ROOT_NAMES[op] for op in self.roots},
            unknown=self.unknown,
            description=next(
                (
                    _description(d)
                    for d in self.document.definitions
                    if isinstance(d, SchemaDefinitionNode) and d.description is not None
                ),
                None,
            ),
        )

    def add_definition(
        self, types: dict[str, TypeDef], name: str, kind: Kind, definition: object
    ) -> None:
        is_extension = "Extension" in type(definition).__name__
        directives: tuple[DirectiveNode, ...] = tuple(getattr(definition, "directives", None) or ())
        tdef = types.get(name)
        if tdef is None:
            tdef = types[name] = TypeDef(name, kind)
        if not is_extension:
            tdef.has_definition = True
            tdef.description = _description(definition) or tdef.description
        own = self.applied(directives, name)
        tdef.applied.inaccessible |= own.inaccessible
        tdef.applied.tags.extend(t for t in own.tags if t not in tdef.applied.tags)
        tdef.applied.kept.extend(own.kept)
        tdef.applied.authenticated |= own.authenticated
        tdef.applied.scopes.extend(own.scopes)
        tdef.applied.policies.extend(own.policies)
        for misplaced in (*FIELD_ONLY, "fromContext"):
            if self.fed(directives, misplaced):
                self.unknown.append((f"@{misplaced}", name))
        if self.fed(directives, "extends"):
            tdef.extends = True
        for context in self.fed(directives, "context"):
            tdef.contexts.append(_string(_args(context).get("name")) or "")
        if self.fed(directives, "interfaceObject"):
            tdef.interface_object = True
            tdef.kind = "interface"
        for key in self.fed(directives, "key"):
            args = _args(key)
            resolvable = args.get("resolvable")
            tdef.keys.append(
                KeyDef(
                    fields=_string(args.get("fields")) or "",
                    resolvable=resolvable.value
                    if isinstance(resolvable, BooleanValueNode)
                    else None,
                    extension=is_extension,
                )
            )
        type_shareable = bool(self.fed(directives, "shareable")) or not self.fed2
        type_external = bool(self.fed(directives, "external")) and self.fed2
        for iface in getattr(definition, "interfaces", None) or ():
            if iface.name.value not in tdef.interfaces:
                tdef.interfaces.append(iface.name.value)
        for member in getattr(definition, "types", None) or ():
            if member.name.value not in tdef.members:
                tdef.members.append(member.name.value)
        for value in getattr(definition, "values", None) or ():
            if isinstance(value, EnumValueDefinitionNode):
                tdef.values[value.name.value] = EnumValueDef(
                    value.name.value,
                    _description(value),
                    self.applied(value.directives, f"{name}.{value.name.value}"),
                )
        for fnode in getattr(definition, "fields", None) or ():
            fdef = self.field(name, fnode)
            if isinstance(fnode, FieldDefinitionNode) and kind in ("object", "interface"):
                fdef.shareable = type_shareable or fdef.shareable
                fdef.external = type_external or fdef.external
            tdef.fields[fdef.name] = fdef

    def field(self, owner: str, node: FieldDefinitionNode | InputValueDefinitionNode) -> FieldDef:
        directives = node.directives
        coordinate = f"{owner}.{node.name.value}"
        fdef = FieldDef(
            name=node.name.value,
            type=self.typeref(node.type),
            description=_description(node),
            args={},
            applied=self.applied(directives, coordinate),
        )
        if isinstance(node, InputValueDefinitionNode):
            fdef.default = node.default_value
            return fdef
        for arg in node.arguments or ():
            from_context = self.fed(arg.directives, "fromContext")
            fdef.args[arg.name.value] = ArgDef(
                arg.name.value,
                self.typeref(arg.type),
                arg.default_value,
                _description(arg),
                self.applied(arg.directives, f"{coordinate}({arg.name.value}:)"),
                _string(_args(from_context[0]).get("field")) if from_context else None,
            )
        for misplaced in (*TYPE_ONLY, "context", "fromContext"):
            if self.fed(directives, misplaced):
                self.unknown.append((f"@{misplaced}", coordinate))
        fdef.external = bool(self.fed(directives, "external"))
        fdef.shareable = bool(self.fed(directives, "shareable"))
        for requires in self.fed(directives, "requires"):
            fdef.requires = _string(_args(requires).get("fields"))
        for provides in self.fed(directives, "provides"):
            fdef.provides = _string(_args(provides).get("fields"))
        for override in self.fed(directives, "override"):
            args = _args(override)
            fdef.override = _string(args.get("from"))
            fdef.override_label = _string(args.get("label"))
        return fdef

    def mark_fields(self, types: dict[str, TypeDef]) -> None:
        """Fake externals, key/provided shareability and usage, as Apollo computes them."""
        for tdef in types.values():
            for key in tdef.keys:
                for type_name, fname in target_fields(types, tdef, key.fields):
                    target = types[type_name].fields[fname]
                    target.shareable = True
                    target.used = True
                    # A key on `extend type` may mark its fields @external (Federation 1
                    # habit); those fields are still resolved here, so not external.
                    if (key.extension or tdef.extends) and type_name == tdef.name:
                        target.external = False
            for fdef in tdef.fields.values():
                if fdef.requires:
                    for type_name, fname in target_fields(types, tdef, fdef.requires):
                        types[type_name].fields[fname].used = True
                if fdef.provides and fdef.type_name in types:
                    for type_name, fname in target_fields(
                        types, types[fdef.type_name], fdef.provides
                    ):
                        target = types[type_name].fields[fname]
                        target.used = True
                        target.provided = True
                        if target.external:
                            target.shareable = True
            for iface in tdef.interfaces:
                iface_def = types.get(iface)
                for fname, fdef in tdef.fields.items():
                    if iface_def is not None and fname in iface_def.fields:
                        fdef.used = True
        # Fields a @fromContext selection reads on the types setting its context.
        for tdef in types.values():
            for fdef in tdef.fields.values():
                for arg in fdef.args.values():
                    parsed = parse_context(arg.from_context)
                    if parsed is None:
                        continue
                    name, selection = parsed
                    for holder in types.values():
                        if name in holder.contexts:
                            body = field_set_of(selection)
                            for type_name, fname in target_fields(types, holder, body):
                                types[type_name].fields[fname].used = True


# Apollo's reading of `@fromContext(field:)`: `$name` (after ignored tokens), then the
# selection; the selection keeps its leading space, as the supergraph prints it.
_CONTEXT_VALUE = re.compile(
    r"^(?:[\n\r\t ,]|#[^\n\r]*(?![^\n\r]))*\$(?:[\n\r\t ,]|#[^\n\r]*(?![^\n\r]))*"
    r"([A-Za-z_]\w*(?!\w))([\s\S]*)$"
)


def parse_context(value: str | None) -> tuple[str, str] | None:
    """(context name, selection) of a `@fromContext(field:)` value; None when it names no
    context or selects nothing."""
    match = _CONTEXT_VALUE.match(value or "")
    if match is None or not match.group(1) or not match.group(2):
        return None
    return match.group(1), match.group(2)


def field_set_of(selection: str) -> str:
    """A context selection (` { prop }` or `prop`) as a field set (`prop`)."""
    text = selection.strip()
    if text.startswith("{") and text.endswith("}"):
        return text[1:-1]
    return text


def parse_type_name(name: str) -> NamedTypeNode:
    return NamedTypeNode(name=NameNode(value=name))


def _kind(definition: object) -> Kind | None:
    if isinstance(definition, ObjectTypeDefinitionNode | ObjectTypeExtensionNode):
        return "object"
    if isinstance(definition, InterfaceTypeDefinitionNode | InterfaceTypeExtensionNode):
        return "interface"
    if isinstance(definition, UnionTypeDefinitionNode | UnionTypeExtensionNode):
        return "union"
    if isinstance(definition, EnumTypeDefinitionNode | EnumTypeExtensionNode):
        return "enum"
    if isinstance(definition, InputObjectTypeDefinitionNode | InputObjectTypeExtensionNode):
        return "input"
    if isinstance(definition, ScalarTypeDefinitionNode | ScalarTypeExtensionNode):
        return "scalar"
    return None


def read_subgraph(source: SubgraphSource) -> Subgraph:
    """Parse and normalise one subgraph; raises SubgraphParseError on a syntax error."""
    return _Reader(source).read()
