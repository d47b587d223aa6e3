"""Print a merged schema as supergraph SDL, laid out the way @apollo/composition prints it.

Same spec links, same machinery definitions per join version, types sorted by name,
`join__*` applications first on every element. Matching the layout keeps diffs against an
Apollo-composed supergraph small and readable; meaning is what the tests compare.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphql import (
    DirectiveDefinitionNode,
    DirectiveNode,
    ListValueNode,
    ObjectValueNode,
    ValueNode,
    print_ast,
)
from graphql.language.block_string import print_block_string
from graphql.language.print_string import print_string

from router.composition.definitions import Applied
from router.composition.model import (
    JoinField,
    JoinType,
    MergedArg,
    MergedField,
    MergedSchema,
    MergedType,
)

INACCESSIBLE_DEF = (
    "directive @inaccessible on FIELD_DEFINITION | OBJECT | INTERFACE | UNION | "
    "ARGUMENT_DEFINITION | SCALAR | ENUM | ENUM_VALUE | INPUT_OBJECT | INPUT_FIELD_DEFINITION"
)
TAG_DEF = (
    "directive @tag(name: String!) repeatable on FIELD_DEFINITION | OBJECT | INTERFACE | UNION "
    "| ARGUMENT_DEFINITION | SCALAR | ENUM | ENUM_VALUE | INPUT_OBJECT | INPUT_FIELD_DEFINITION "
    "| SCHEMA"
)
LINK_DEF = (
    "directive @link(url: String, as: String, for: link__Purpose, import: [link__Import]) "
    "repeatable on SCHEMA"
)
JOIN_FIELD_ARGS = {
    "0.3": "graph: join__Graph, requires: join__FieldSet, provides: join__FieldSet, type: String, "
    "external: Boolean, override: String, usedOverridden: Boolean",
    "0.4": "graph: join__Graph, requires: join__FieldSet, provides: join__FieldSet, type: String, "
    "external: Boolean, override: String, usedOverridden: Boolean, overrideLabel: String",
    "0.5": "graph: join__Graph, requires: join__FieldSet, provides: join__FieldSet, type: String, "
    "external: Boolean, override: String, usedOverridden: Boolean, overrideLabel: String, "
    "contextArguments: [join__ContextArgument!]",
}
JOIN_DIRECTIVE_DEF = (
    "directive @join__directive(graphs: [join__Graph!], name: String!, args: "
    "join__DirectiveArguments) repeatable on SCHEMA | OBJECT | INTERFACE | FIELD_DEFINITION"
)
JOIN_OTHER_DEFS = (
    "directive @join__enumValue(graph: join__Graph!) repeatable on ENUM_VALUE",
    "directive @join__graph(name: String!, url: String!) on ENUM_VALUE",
    "directive @join__implements(graph: join__Graph!, interface: String!) repeatable on OBJECT "
    "| INTERFACE",
    "directive @join__type(graph: join__Graph!, key: join__FieldSet, extension: Boolean! = "
    "false, resolvable: Boolean! = true, isInterfaceObject: Boolean! = false) repeatable on "
    "OBJECT | INTERFACE | UNION | ENUM | INPUT_OBJECT | SCALAR",
    "directive @join__unionMember(graph: join__Graph!, member: String!) repeatable on UNION",
)
LINK_PURPOSE = '''enum link__Purpose {
  """
  `SECURITY` features provide metadata necessary to securely resolve fields.
  """
  SECURITY

  """
  `EXECUTION` features provide metadata necessary for operation execution.
  """
  EXECUTION
}'''
CONTEXT_ARGUMENT = """input join__ContextArgument {
  name: String!
  type: String!
  context: String!
  selection: join__FieldValue!
}"""


# The authorization specs (Apollo's SECURITY features), as @apollo/composition writes them.
SECURITY_LOCATIONS = "FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM"
SECURITY_DEFS = {
    "authenticated": f"directive @authenticated on {SECURITY_LOCATIONS}",
    "requiresScopes": "directive @requiresScopes(scopes: [[requiresScopes__Scope!]!]!) on "
    + SECURITY_LOCATIONS,
    "policy": f"directive @policy(policies: [[policy__Policy!]!]!) on {SECURITY_LOCATIONS}",
}
SECURITY_SCALARS = {"requiresScopes": "requiresScopes__Scope", "policy": "policy__Policy"}
# The context spec (federation 2.8): `@context` on the types that set one.
CONTEXT_URL = "https://specs.apollo.dev/context/v0.1"
CONTEXT_DEF = "directive @context(name: String!) repeatable on INTERFACE | OBJECT | UNION"
FROM_CONTEXT_DEF = (
    "directive @context__fromContext(field: context__ContextFieldValue) on ARGUMENT_DEFINITION"
)
# The cost spec (demand control). Apollo links it importing only `@listSize` (`@cost` is the
# spec's own name) and defines both directives; `@listSize` keeps its prefix unless used.
COST_URL = "https://specs.apollo.dev/cost/v0.1"
COST_DEF = (
    "directive @cost(weight: Int!) on ARGUMENT_DEFINITION | ENUM | FIELD_DEFINITION | "
    "INPUT_FIELD_DEFINITION | OBJECT | SCALAR"
)
LIST_SIZE_DEF = (
    "directive @{name}(assumedSize: Int, slicingArguments: [String!], sizedFields: [String!], "
    "requireOneSlicingArgument: Boolean = true) on FIELD_DEFINITION"
)


@dataclass(frozen=True, slots=True)
class SpecNames:
    """What @tag and @inaccessible are called in the supergraph (subgraphs may rename them
    on import; Apollo keeps their name)."""

    tag: str = "tag"
    inaccessible: str = "inaccessible"


def print_supergraph(schema: MergedSchema) -> str:
    names = SpecNames(schema.tag_name, schema.inaccessible_name)
    blocks = [_schema_block(schema)]
    blocks.extend(text for _, text in sorted(_directive_defs(schema), key=lambda d: d[0]))
    types: list[tuple[str, str]] = [(t.name, _type(t, names)) for t in schema.types.values()]
    types.extend(_machinery_types(schema))
    blocks.extend(text for _, text in sorted(types, key=lambda t: (t[0].lower(), t[0])))
    return "\n\n".join(blocks)


def _schema_block(schema: MergedSchema) -> str:
    links = [
        '@link(url: "https://specs.apollo.dev/link/v1.0")',
        f'@link(url: "https://specs.apollo.dev/join/v{schema.join_version}", for: EXECUTION)',
    ]
    if schema.uses_tag:
        links.append(
            '@link(url: "https://specs.apollo.dev/tag/v0.3"' + _import("tag", schema.tag_name) + ")"
        )
    if schema.uses_inaccessible:
        links.append(
            '@link(url: "https://specs.apollo.dev/inaccessible/v0.2", for: SECURITY'
            + _import("inaccessible", schema.inaccessible_name)
            + ")"
        )
    if schema.uses_context:
        links.append(f'@link(url: "{CONTEXT_URL}", for: SECURITY)')
    links.extend(
        f'@link(url: "https://specs.apollo.dev/{name}/v0.1", for: SECURITY)'
        for name in schema.security
    )
    if schema.cost:
        imports = ', import: ["@listSize"]' if "listSize" in schema.cost else ""
        links.append(f'@link(url: "{COST_URL}"{imports})')
    custom: dict[str, list[str]] = {}
    for definition, link in schema.composed:
        local = f"@{definition.name.value}"
        # Repeat the subgraph's import, rename included.
        original = next((o for o, alias in link.imports.items() if alias == local), local)
        custom.setdefault(link.url, []).append(
            print_string(local)
            if original == local
            else f"{{name: {print_string(original)}, as: {print_string(local)}}}"
        )
    for url, names in custom.items():
        imports = ", ".join(names)
        links.append(f"@link(url: {print_string(url)}, import: [{imports}])")
    roots = "".join(f"  {op}: {name}\n" for op, name in schema.roots.items())
    head = "schema\n" + "".join(f"  {link}\n" for link in links)
    return _description(schema.description, "") + head + "{\n" + roots + "}"


def _import(spec: str, name: str) -> str:
    if name == spec:
        return ""
    return f', import: [{{name: "@{spec}", as: "@{name}"}}]'


def _directive_defs(schema: MergedSchema) -> list[tuple[str, str]]:
    defs = [("link", LINK_DEF)]
    defs.extend((d.split("(")[0].split(" ")[1][1:], d) for d in JOIN_OTHER_DEFS)
    defs.append(
        (
            "join__field",
            f"directive @join__field({JOIN_FIELD_ARGS[schema.join_version]}) repeatable on "
            "FIELD_DEFINITION | INPUT_FIELD_DEFINITION",
        )
    )
    if schema.join_version != "0.3":
        defs.append(("join__directive", JOIN_DIRECTIVE_DEF))
    if schema.uses_inaccessible:
        name = schema.inaccessible_name
        defs.append((name, INACCESSIBLE_DEF.replace("@inaccessible ", f"@{name} ", 1)))
    if schema.uses_tag:
        defs.append((schema.tag_name, TAG_DEF.replace("@tag(", f"@{schema.tag_name}(", 1)))
    defs.extend((name, SECURITY_DEFS[name]) for name in schema.security)
    if schema.uses_context:
        defs.append(("context", CONTEXT_DEF))
        defs.append(("context__fromContext", FROM_CONTEXT_DEF))
    if schema.cost:
        list_size = "listSize" if "listSize" in schema.cost else "cost__listSize"
        defs.append(("cost", COST_DEF))
        defs.append((list_size, LIST_SIZE_DEF.format(name=list_size)))
    extra: list[DirectiveDefinitionNode] = [d for d, _ in schema.composed] + schema.executable
    defs.extend((d.name.value, _directive_definition(d)) for d in extra)
    return defs


def _machinery_types(schema: MergedSchema) -> list[tuple[str, str]]:
    graphs = "".join(
        f"  {g.enum} @join__graph(name: {print_string(g.name)}, url: {print_string(g.url)})\n"
        for g in schema.graphs
    )
    found = [
        ("join__FieldSet", "scalar join__FieldSet"),
        ("join__Graph", "enum join__Graph {\n" + graphs + "}"),
        ("link__Import", "scalar link__Import"),
        ("link__Purpose", LINK_PURPOSE),
    ]
    if schema.join_version != "0.3":
        found.append(("join__DirectiveArguments", "scalar join__DirectiveArguments"))
    found.extend(
        (SECURITY_SCALARS[name], f"scalar {SECURITY_SCALARS[name]}")
        for name in schema.security
        if name in SECURITY_SCALARS
    )
    if schema.uses_context:
        found.append(("context__ContextFieldValue", "scalar context__ContextFieldValue"))
    if schema.join_version == "0.5":
        found.append(("join__FieldValue", "scalar join__FieldValue"))
        found.append(("join__ContextArgument", CONTEXT_ARGUMENT))
    return found


# ---------------------------------------------------------------------- types
def _type(merged: MergedType, names: SpecNames) -> str:
    keyword = {
        "object": "type",
        "interface": "interface",
        "union": "union",
        "enum": "enum",
        "input": "input",
        "scalar": "scalar",
    }[merged.kind]
    head = f"{keyword} {merged.name}"
    if merged.interfaces:
        head += " implements " + " & ".join(merged.interfaces)
    lines = [head]
    # Apollo writes join__implements before join__type.
    lines.extend(
        f"  @join__implements(graph: {g}, interface: {print_string(i)})"
        for g, i in merged.implements
    )
    lines.extend(f"  {_join_type(j)}" for j in merged.join_types)
    lines.extend(
        f"  @join__unionMember(graph: {g}, member: {print_string(m)})"
        for g, m in merged.union_members
    )
    lines.extend(f"  @context(name: {print_string(c)})" for c in merged.contexts)
    lines.extend(f"  {d}" for d in _applied(merged.applied, names))
    text = _description(merged.description, "") + "\n".join(lines)
    if merged.kind == "union":
        return text + "\n = " + " | ".join(merged.members)
    if merged.kind == "scalar":
        return text
    if merged.kind == "enum":
        body = [
            _description(v.description, "  ")
            + "  "
            + " ".join(
                [
                    v.name,
                    *_with_joins(
                        [f"@join__enumValue(graph: {g})" for g in v.graphs], v.applied, names
                    ),
                ]
            )
            for v in merged.values.values()
        ]
    else:
        body = [_field(f, names) for f in merged.fields.values()]
    return text + "\n{\n" + _join_members(body) + "\n}"


def _join_members(members: list[str]) -> str:
    # graphql-js separates members with a blank line before each described one.
    out: list[str] = []
    for index, member in enumerate(members):
        if index and member.lstrip().startswith('"'):
            out.append("")
        out.append(member)
    return "\n".join(out)


def _field(merged: MergedField, names: SpecNames) -> str:
    args = ""
    if merged.args:
        printed = [_arg(a, "    ", names) for a in merged.args.values()]
        if any(a.description is not None for a in merged.args.values()):
            args = "(\n" + _join_members(printed) + "\n  )"
        else:
            args = "(" + ", ".join(p.strip() for p in printed) + ")"
    default = f" = {_value(merged.default)}" if merged.default is not None else ""
    directives = _with_joins([_join_field(j) for j in merged.joins or ()], merged.applied, names)
    suffix = "".join(f" {d}" for d in directives)
    return (
        _description(merged.description, "  ")
        + f"  {merged.name}{args}: {print_ast(merged.type)}{default}{suffix}"
    )


def _arg(arg: MergedArg, indent: str, names: SpecNames) -> str:
    default = f" = {_value(arg.default)}" if arg.default is not None else ""
    suffix = "".join(f" {d}" for d in _applied(arg.applied, names))
    return (
        _description(arg.description, indent)
        + f"{indent}{arg.name}: {print_ast(arg.type)}"
        + default
        + suffix
    )


def _join_type(join: JoinType) -> str:
    args = [f"graph: {join.graph}"]
    if join.key is not None:
        args.append(f"key: {print_string(join.key)}")
    if join.extension:
        args.append("extension: true")
    if join.resolvable is not None:
        args.append(f"resolvable: {str(join.resolvable).lower()}")
    if join.interface_object:
        args.append("isInterfaceObject: true")
    return f"@join__type({', '.join(args)})"


def _join_field(join: JoinField) -> str:
    args = []
    if join.graph is not None:
        args.append(f"graph: {join.graph}")
    for name, value in (
        ("requires", join.requires),
        ("provides", join.provides),
        ("type", join.type),
    ):
        if value is not None:
            args.append(f"{name}: {print_string(value)}")
    if join.external:
        args.append("external: true")
    if join.override is not None:
        args.append(f"override: {print_string(join.override)}")
    if join.used_overridden:
        args.append("usedOverridden: true")
    if join.override_label is not None:
        args.append(f"overrideLabel: {print_string(join.override_label)}")
    if join.context_arguments:
        printed = ", ".join(
            f"{{context: {print_string(c)}, name: {print_string(n)}, type: {print_string(t)}, "
            f"selection: {print_string(s)}}}"
            for c, n, t, s in join.context_arguments
        )
        args.append(f"contextArguments: [{printed}]")
    return f"@join__field({', '.join(args)})" if args else "@join__field"


def _with_joins(joins: list[str], applied: Applied, names: SpecNames) -> list[str]:
    # Apollo's order on fields and enum values: @inaccessible, the join__ ones, the rest.
    rest = _applied(applied, names)
    if applied.inaccessible:
        return [rest[0], *joins, *rest[1:]]
    return joins + rest


def _applied(applied: Applied, names: SpecNames) -> list[str]:
    out = [f"@{names.inaccessible}"] if applied.inaccessible else []
    # Apollo's order: the authorization directives before @tag, in the order the
    # subgraphs first apply them.
    security = {
        "authenticated": ["@authenticated"] if applied.authenticated else [],
        "requiresScopes": [f"@requiresScopes(scopes: {_dnf(v)})" for v in applied.scopes],
        "policy": [f"@policy(policies: {_dnf(v)})" for v in applied.policies],
    }
    for name in applied.security_order or security:
        out.extend(security[name])
    out.extend(f"@{names.tag}(name: {print_string(t)})" for t in applied.tags)
    out.extend(_directive(d) for d in applied.kept)
    return out


def _dnf(value: list[list[str]]) -> str:
    return (
        "["
        + ", ".join("[" + ", ".join(print_string(e) for e in inner) + "]" for inner in value)
        + "]"
    )


def _description(text: str | None, indent: str) -> str:
    if text is None:
        return ""
    block = print_block_string(text)
    return "".join(f"{indent}{line}\n" if line else "\n" for line in block.split("\n"))


def _directive(directive: DirectiveNode) -> str:
    if not directive.arguments:
        return f"@{directive.name.value}"
    args = ", ".join(f"{a.name.value}: {_value(a.value)}" for a in directive.arguments)
    return f"@{directive.name.value}({args})"


def _value(value: ValueNode) -> str:
    # graphql-js spacing (`{a: 1}`), which Apollo's printer uses, not graphql-core's `{ a: 1 }`.
    if isinstance(value, ObjectValueNode):
        return "{" + ", ".join(f"{f.name.value}: {_value(f.value)}" for f in value.fields) + "}"
    if isinstance(value, ListValueNode):
        return "[" + ", ".join(_value(v) for v in value.values) + "]"
    return print_ast(value)


def _directive_definition(definition: DirectiveDefinitionNode) -> str:
    bare = DirectiveDefinitionNode(
        name=definition.name,
        arguments=definition.arguments,
        repeatable=definition.repeatable,
        locations=definition.locations,
    )
    description = definition.description.value if definition.description else None
    return _description(description, "") + print_ast(bare)
