"""Subgraph sets that must fail composition, with the code @apollo/composition 2.14.4 gives.

Each case was run through Apollo's composer once when written; the test asserts that ours
names the same rule, the same coordinate and the subgraphs involved.
"""

from __future__ import annotations

from dataclasses import dataclass

FED = '@link(url: "https://specs.apollo.dev/federation/v2.7", import: [{}])'


def sdl(imports: str, body: str) -> str:
    return "extend schema " + FED.format(imports) + "\n" + body


def context_sdl(body: str) -> str:
    """A federation 2.8 subgraph (the version of @context) with a shop that sets `ctx`."""
    return (
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.8", '
        'import: ["@key", "@context", "@fromContext", "@shareable"])\n'
        'type Query { t: T } type T @key(fields: "id") @context(name: "ctx") '
        "{ id: ID! p: String n: Int u: U } " + body
    )


@dataclass(frozen=True)
class Case:
    code: str
    coordinate: str
    subgraphs: dict[str, str]


CASES: dict[str, Case] = {
    "field_sharing": Case(
        "INVALID_FIELD_SHARING",
        "User.name",
        {
            "a": sdl(
                '"@key"',
                'type Query { me: User } type User @key(fields: "id") { id: ID! name: String }',
            ),
            "b": sdl(
                '"@key"',
                'type Query { you: User } type User @key(fields: "id") { id: ID! name: String }',
            ),
        },
    ),
    "external_type": Case(
        "EXTERNAL_TYPE_MISMATCH",
        "User.name",
        {
            "a": sdl(
                '"@key"',
                'type Query { me: User } type User @key(fields: "id") { id: ID! name: String! }',
            ),
            "b": sdl(
                '"@key", "@external", "@requires"',
                'type User @key(fields: "id") { id: ID! name: String @external '
                'greeting: String @requires(fields: "name") }',
            ),
        },
    ),
    "external_missing_on_base": Case(
        "EXTERNAL_MISSING_ON_BASE",
        "User.nick",
        {
            "a": sdl('"@key"', 'type Query { me: User } type User @key(fields: "id") { id: ID! }'),
            "b": sdl(
                '"@key", "@external", "@requires"',
                'type User @key(fields: "id") { id: ID! nick: String @external '
                'greeting: String @requires(fields: "nick") }',
            ),
        },
    ),
    "key_interface": Case(
        "KEY_FIELDS_SELECT_INVALID_TYPE",
        "User.node",
        {
            "a": sdl(
                '"@key"',
                'type Query { me: User } type User @key(fields: "node { id }") { node: Node! } '
                "interface Node { id: ID! }",
            )
        },
    ),
    "key_unknown": Case(
        "KEY_INVALID_FIELDS",
        "User",
        {"a": sdl('"@key"', 'type Query { me: User } type User @key(fields: "uuid") { id: ID! }')},
    ),
    "requires_unknown": Case(
        "REQUIRES_INVALID_FIELDS",
        "User.greeting",
        {
            "a": sdl('"@key"', 'type Query { me: User } type User @key(fields: "id") { id: ID! }'),
            "b": sdl(
                '"@key", "@requires"',
                'type User @key(fields: "id") { id: ID! '
                'greeting: String @requires(fields: "nope") }',
            ),
        },
    ),
    "provides_unknown": Case(
        "PROVIDES_INVALID_FIELDS",
        "Query.me",
        {
            "a": sdl(
                '"@key", "@provides"',
                'type Query { me: User @provides(fields: "nope") } '
                'type User @key(fields: "id") { id: ID! }',
            ),
        },
    ),
    "field_type": Case(
        "FIELD_TYPE_MISMATCH",
        "Money.amount",
        {
            "a": sdl(
                '"@shareable"', "type Query { a: Money } type Money @shareable { amount: Int }"
            ),
            "b": sdl(
                '"@shareable"', "type Query { b: Money } type Money @shareable { amount: String }"
            ),
        },
    ),
    "only_inaccessible": Case(
        "ONLY_INACCESSIBLE_CHILDREN",
        "Mutation",
        {
            "a": sdl(
                '"@inaccessible"',
                "type Query { ok: Boolean } type Mutation { secret: Boolean @inaccessible }",
            )
        },
    ),
    "kind": Case(
        "TYPE_KIND_MISMATCH",
        "Thing",
        {
            "a": sdl('"@shareable"', "type Query { a: Thing } type Thing @shareable { id: ID }"),
            "b": sdl('"@shareable"', "type Query { b: Thing } interface Thing { id: ID }"),
        },
    ),
    "enum_both": Case(
        "ENUM_VALUE_MISMATCH",
        "Color.RED",
        {
            "a": sdl('"@shareable"', "type Query { a(c: Color): Color } enum Color { RED BLUE }"),
            "b": sdl('"@shareable"', "type Query { b: Color } enum Color { BLUE }"),
        },
    ),
    "empty_input": Case(
        "EMPTY_MERGED_INPUT_TYPE",
        "Filter",
        {
            "a": sdl('"@shareable"', "type Query { a(f: Filter): Int } input Filter { x: Int }"),
            "b": sdl('"@shareable"', "type Query { b(f: Filter): Int } input Filter { y: Int }"),
        },
    ),
    "referenced_inaccessible": Case(
        "REFERENCED_INACCESSIBLE",
        "Query.secret",
        {
            "a": sdl(
                '"@inaccessible"',
                "type Query { ok: Int secret: Secret } type Secret @inaccessible { v: Int }",
            )
        },
    ),
    "unreachable_value_field": Case(
        "SATISFIABILITY_ERROR",
        "Address.zip",
        {
            "a": sdl(
                '"@shareable"',
                "type Query { home: Address } type Address @shareable { city: String }",
            ),
            "b": sdl(
                '"@shareable"',
                "type Query { work: Address } type Address @shareable { city: String zip: String }",
            ),
        },
    ),
    "external_unused": Case(
        "EXTERNAL_UNUSED",
        "User.name",
        {
            "a": sdl(
                '"@key", "@shareable"',
                "type Query { me: User } "
                'type User @key(fields: "id") { id: ID! name: String @shareable }',
            ),
            "b": sdl(
                '"@key", "@external"',
                'type User @key(fields: "id") { id: ID! name: String @external age: Int }',
            ),
        },
    ),
    "required_arg_missing": Case(
        "REQUIRED_ARGUMENT_MISSING_IN_SOME_SUBGRAPH",
        "Query.search(limit:)",
        {
            "a": sdl('"@shareable"', "type Query { search(limit: Int!): [Int] @shareable }"),
            "b": sdl('"@shareable"', "type Query { search: [Int] @shareable }"),
        },
    ),
    "requires_not_external": Case(
        "REQUIRES_FIELDS_MISSING_EXTERNAL",
        "User.greeting",
        {
            "a": sdl('"@key"', 'type Query { me: User } type User @key(fields: "id") { id: ID! }'),
            "b": sdl(
                '"@key", "@requires"',
                'type User @key(fields: "id") { id: ID! nick: String '
                'greeting: String @requires(fields: "nick") }',
            ),
        },
    ),
    "provides_not_external": Case(
        "PROVIDES_FIELDS_MISSING_EXTERNAL",
        "Query.me",
        {
            "a": sdl(
                '"@key", "@provides"',
                'type Query { me: User @provides(fields: "name") } '
                'type User @key(fields: "id") { id: ID! name: String }',
            ),
        },
    ),
    "key_with_args": Case(
        "KEY_FIELDS_HAS_ARGS",
        "User.id",
        {
            "a": sdl(
                '"@key"',
                'type Query { me: User } type User @key(fields: "id") { id(x: Int): ID! }',
            )
        },
    ),
    "override_self": Case(
        "OVERRIDE_FROM_SELF_ERROR",
        "Query.a",
        {"a": sdl('"@override"', 'type Query { a: Int @override(from: "a") }')},
    ),
    "override_label": Case(
        "OVERRIDE_LABEL_INVALID",
        "Query.a",
        {
            "a": sdl('"@override"', 'type Query { a: Int @override(from: "b", label: "9 lives") }'),
            "b": sdl('"@shareable"', "type Query { a: Int b: Int }"),
        },
    ),
    "override_collision": Case(
        "OVERRIDE_COLLISION_WITH_ANOTHER_DIRECTIVE",
        "User.name",
        {
            "a": sdl(
                '"@key", "@override"',
                'type Query { me: User } type User @key(fields: "id") '
                '{ id: ID! name: String @override(from: "b") }',
            ),
            "b": sdl(
                '"@key", "@external", "@requires"',
                'type User @key(fields: "id") { id: ID! nick: String @external '
                'name: String @requires(fields: "nick") }',
            ),
        },
    ),
    "override_source_override": Case(
        "OVERRIDE_SOURCE_HAS_OVERRIDE",
        "Query.a",
        {
            "a": sdl('"@override"', 'type Query { a: Int @override(from: "b") }'),
            "b": sdl('"@override"', 'type Query { a: Int @override(from: "a") }'),
        },
    ),
    "interface_object_without_key": Case(
        "INTERFACE_OBJECT_USAGE_ERROR",
        "Media",
        {
            "a": sdl(
                '"@key"',
                'type Query { m: Media } interface Media @key(fields: "id") { id: ID! } '
                'type Book implements Media @key(fields: "id") { id: ID! }',
            ),
            "b": sdl(
                '"@interfaceObject"',
                "type Query { n: Media } type Media @interfaceObject { id: ID! views: Int }",
            ),
        },
    ),
    "interface_field_not_implemented": Case(
        "INTERFACE_FIELD_NO_IMPLEM",
        "Book.title",
        {
            "a": sdl(
                '"@shareable"',
                "type Query { m: Media } interface Media { id: ID! } "
                "type Book implements Media @shareable { id: ID! }",
            ),
            "b": sdl(
                '"@shareable"',
                "type Query { n: Media } interface Media { id: ID! title: String } "
                "type Movie implements Media { id: ID! title: String }",
            ),
        },
    ),
    "required_input_field": Case(
        "REQUIRED_INPUT_FIELD_MISSING_IN_SOME_SUBGRAPH",
        "Filter.y",
        {
            "a": sdl('"@shareable"', "type Query { a(f: Filter): Int } input Filter { x: Int }"),
            "b": sdl(
                '"@shareable"', "type Query { b(f: Filter): Int } input Filter { x: Int y: Int! }"
            ),
        },
    ),
    "argument_type": Case(
        "FIELD_ARGUMENT_TYPE_MISMATCH",
        "Query.a(x:)",
        {
            "a": sdl('"@shareable"', "type Query { a(x: Int): Int @shareable }"),
            "b": sdl('"@shareable"', "type Query { a(x: String): Int @shareable }"),
        },
    ),
    "external_on_interface": Case(
        "EXTERNAL_ON_INTERFACE",
        "Media.id",
        {
            "a": sdl(
                '"@external"',
                "type Query { m: Media } interface Media { id: ID! @external } "
                "type Book implements Media { id: ID! }",
            ),
        },
    ),
    "required_inaccessible": Case(
        "REQUIRED_INACCESSIBLE",
        "Query.a(x:)",
        {"a": sdl('"@inaccessible"', "type Query { a(x: Int! @inaccessible): Int }")},
    ),
    "tag_on_external": Case(
        "MERGED_DIRECTIVE_APPLICATION_ON_EXTERNAL",
        "User.name",
        {
            "a": sdl(
                '"@key"',
                'type Query { me: User } type User @key(fields: "id") { id: ID! name: String }',
            ),
            "b": sdl(
                '"@key", "@external", "@provides", "@tag"',
                'type Query { you: User @provides(fields: "name") } '
                'type User @key(fields: "id") { id: ID! name: String @external @tag(name: "x") }',
            ),
        },
    ),
    "compose_without_link": Case(
        "DIRECTIVE_COMPOSITION_ERROR",
        "@mine",
        {
            "a": 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", '
            'import: ["@composeDirective"]) @composeDirective(name: "@mine") '
            "directive @mine on FIELD_DEFINITION type Query { a: Int @mine }",
        },
    ),
    "interface_key_missing_implementation": Case(
        "INTERFACE_KEY_MISSING_IMPLEMENTATION_TYPE",
        "Media",
        {
            "a": sdl(
                '"@key"',
                'type Query { m: Media } interface Media @key(fields: "id") { id: ID! } '
                'type Book implements Media @key(fields: "id") { id: ID! }',
            ),
            "b": sdl(
                '"@key"',
                "type Query { n: Media } interface Media { id: ID! } "
                'type Movie implements Media @key(fields: "id") { id: ID! }',
            ),
        },
    ),
    "interface_object_defines_implementation": Case(
        "INTERFACE_OBJECT_USAGE_ERROR",
        "Media",
        {
            "a": sdl(
                '"@key"',
                'type Query { m: Media } interface Media @key(fields: "id") { id: ID! } '
                'type Book implements Media @key(fields: "id") { id: ID! }',
            ),
            "b": sdl(
                '"@key", "@interfaceObject", "@shareable"',
                'type Query { n: Media } type Media @key(fields: "id") @interfaceObject '
                '{ id: ID! views: Int } type Book @key(fields: "id") { id: ID! pages: Int }',
            ),
        },
    ),
    "requires_typename": Case(
        "REQUIRES_FIELDS_MISSING_EXTERNAL",
        "User.greeting",
        {
            "a": sdl('"@key"', 'type Query { me: User } type User @key(fields: "id") { id: ID! }'),
            "b": sdl(
                '"@key", "@requires"',
                'type User @key(fields: "id") { id: ID! '
                'greeting: String @requires(fields: "__typename") }',
            ),
        },
    ),
    "external_argument_missing": Case(
        "EXTERNAL_ARGUMENT_MISSING",
        "User.name(style:)",
        {
            "a": sdl(
                '"@key"',
                'type Query { me: User } type User @key(fields: "id") '
                "{ id: ID! name(style: String): String }",
            ),
            "b": sdl(
                '"@key", "@external", "@requires"',
                'type User @key(fields: "id") { id: ID! name: String @external '
                'greeting: String @requires(fields: "name") }',
            ),
        },
    ),
    "shared_field_runtime_types": Case(
        "SHAREABLE_HAS_MISMATCHED_RUNTIME_TYPES",
        "Query.a",
        {
            "a": sdl(
                '"@shareable"',
                "type Query { a: A @shareable } interface A { x: Int } "
                "type I1 implements A { x: Int }",
            ),
            "b": sdl(
                '"@shareable"',
                "type Query { a: A @shareable } interface A { x: Int } "
                "type I2 implements A { x: Int }",
            ),
        },
    ),
    "requires_missing_argument": Case(
        "REQUIRES_INVALID_FIELDS",
        "Order.total",
        {
            "a": sdl(
                '"@key"',
                'type Query { order: Order } type Order @key(fields: "id") '
                "{ id: ID! amount(currency: String!): Int }",
            ),
            "b": sdl(
                '"@key", "@external", "@requires"',
                'type Order @key(fields: "id") { id: ID! amount(currency: String): Int @external '
                'total: Int @requires(fields: "amount") }',
            ),
        },
    ),
    "interface_object_cannot_reach_interface": Case(
        "SATISFIABILITY_ERROR",
        "Account.plan",
        {
            "a": sdl(
                '"@key"',
                "interface Account { id: ID! plan: String } "
                'type Person implements Account @key(fields: "id") { id: ID! plan: String }',
            ),
            "b": sdl(
                '"@key", "@interfaceObject"',
                'type Query { accounts: [Account!]! } type Account @key(fields: "id") '
                "@interfaceObject { id: ID! spent: Int }",
            ),
        },
    ),
    "override_on_interface": Case(
        "OVERRIDE_ON_INTERFACE",
        "Media.title",
        {
            "a": sdl(
                '"@override"',
                'type Query { m: Media } interface Media { title: String @override(from: "b") } '
                "type Book implements Media { title: String }",
            ),
        },
    ),
    "tag_import_mismatch": Case(
        "LINK_IMPORT_NAME_MISMATCH",
        "@tag",
        {
            "a": 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", '
            'import: [{name: "@tag", as: "@label"}]) type Query { a: Int @label(name: "x") }',
            "b": sdl('"@tag"', 'type Query { b: Int @tag(name: "y") }'),
        },
    ),
    "misplaced_directive": Case(
        "INVALID_GRAPHQL",
        "Thing",
        {
            "a": sdl(
                '"@requires"',
                'type Query { t: Thing } type Thing @requires(fields: "x") { x: Int }',
            )
        },
    ),
    "federation_1_extension_without_base": Case(
        "EXTENSION_WITH_NO_BASE",
        "Thing",
        {
            "a": "type Query { a: Int }",
            "b": 'extend type Thing @key(fields: "id") { id: ID! @external name: String } '
            "type Query { t: Thing }",
        },
    ),
    "context_name": Case(
        "CONTEXT_NAME_INVALID",
        "V",
        {
            "a": context_sdl(
                'type V @key(fields: "id") @context(name: "my_ctx") { id: ID! } '
                'type U @key(fields: "id") { id: ID! f(x: String @fromContext(field: "$ctx { p }"))'
                ": Int }"
            )
        },
    ),
    "context_not_set": Case(
        "CONTEXT_NOT_SET",
        "U.f(x:)",
        {
            "a": context_sdl(
                'type U @key(fields: "id") { id: ID! f(x: String @fromContext(field: '
                '"$nowhere { p }")): Int }'
            )
        },
    ),
    "context_default": Case(
        "CONTEXT_NOT_SET",
        "U.f(x:)",
        {
            "a": context_sdl(
                'type U @key(fields: "id") { id: ID! f(x: String = "d" @fromContext(field: '
                '"$ctx { p }")): Int }'
            )
        },
    ),
    "context_no_reference": Case(
        "NO_CONTEXT_IN_SELECTION",
        "U.f(x:)",
        {
            "a": context_sdl(
                'type U @key(fields: "id") { id: ID! f(x: String @fromContext(field: "{ p }")): '
                "Int }"
            )
        },
    ),
    "context_type_mismatch": Case(
        "CONTEXT_INVALID_SELECTION",
        "U.f(x:)",
        {
            "a": context_sdl(
                'type U @key(fields: "id") { id: ID! f(x: String @fromContext(field: "$ctx { n }"))'
                ": Int }"
            )
        },
    ),
    "context_two_fields": Case(
        "CONTEXT_INVALID_SELECTION",
        "U.f(x:)",
        {
            "a": context_sdl(
                'type U @key(fields: "id") { id: ID! f(x: String @fromContext(field: '
                '"$ctx { p id }")): Int }'
            )
        },
    ),
    "context_unknown_field": Case(
        "CONTEXT_INVALID_SELECTION",
        "U.f(x:)",
        {
            "a": context_sdl(
                'type U @key(fields: "id") { id: ID! f(x: String @fromContext(field: '
                '"$ctx { nope }")): Int }'
            )
        },
    ),
    "context_no_resolvable_key": Case(
        "CONTEXT_NO_RESOLVABLE_KEY",
        "U",
        {
            "a": context_sdl(
                'type U @key(fields: "id", resolvable: false) { id: ID! f(x: String @fromContext('
                'field: "$ctx { p }")): Int }'
            )
        },
    ),
    "context_on_interface_field": Case(
        "CONTEXT_NOT_SET",
        "U.f(x:)",
        {
            "a": context_sdl(
                'interface I { f(x: String): Int } type U implements I @key(fields: "id") '
                '{ id: ID! f(x: String @fromContext(field: "$ctx { p }")): Int }'
            )
        },
    ),
    "context_not_contextual_everywhere": Case(
        "CONTEXTUAL_ARGUMENT_NOT_CONTEXTUAL_IN_ALL_SUBGRAPHS",
        "U.f(x:)",
        {
            "a": context_sdl(
                'type U @key(fields: "id") { id: ID! f(x: String @fromContext(field: '
                '"$ctx { p }")): Int @shareable }'
            ),
            "b": sdl(
                '"@key", "@shareable"',
                'type U @key(fields: "id") { id: ID! f(x: String!): Int @shareable }',
            ),
        },
    ),
    "context_unreachable": Case(
        "SATISFIABILITY_ERROR",
        "U.f",
        {
            "a": context_sdl(
                'extend type Query { u: U } type U @key(fields: "id") { id: ID! '
                'f(x: String @fromContext(field: "$ctx { p }")): Int }'
            )
        },
    ),
    "context_reads_protected_type": Case(
        "MISSING_TRANSITIVE_AUTH_REQUIREMENTS",
        "U.f",
        {
            "a": 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", '
            'import: ["@key", "@context", "@fromContext", "@authenticated"]) '
            'type Query { t: T } type T @key(fields: "id") @context(name: "ctx") @authenticated '
            '{ id: ID! p: String u: U } type U @key(fields: "id") '
            '{ id: ID! f(x: String @fromContext(field: "$ctx { p }")): Int }'
        },
    ),
    "context_reads_protected_field": Case(
        "MISSING_TRANSITIVE_AUTH_REQUIREMENTS",
        "U.f",
        {
            "a": 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", '
            'import: ["@key", "@context", "@fromContext", "@requiresScopes"]) '
            'type Query { t: T } type T @key(fields: "id") @context(name: "ctx") '
            '{ id: ID! p: String @requiresScopes(scopes: [["read"]]) u: U } '
            'type U @key(fields: "id") { id: ID! f(x: String @fromContext(field: "$ctx { p }")): '
            'Int @requiresScopes(scopes: [["other"]]) }'
        },
    ),
}
