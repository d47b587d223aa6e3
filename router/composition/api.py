"""Views of a supergraph for comparison: its API schema and its join metadata.

The API schema is derived by the router (`router.api_schema`), so the router, the composer
and the schema check agree about what clients see (executable directives such as
`directive @trace on FIELD` included, as in Apollo's API schema).
"""

from __future__ import annotations

from graphql import (
    DirectiveNode,
    EnumTypeDefinitionNode,
    GraphQLSchema,
    lexicographic_sort_schema,
    parse,
    print_ast,
    print_schema,
)

from router.api_schema import build_api_schema
from router.supergraph import Supergraph


def api_graphql_schema(supergraph_sdl: str) -> GraphQLSchema:
    """The API schema of a supergraph SDL (for schemas of older commits too)."""
    return build_api_schema(Supergraph(supergraph_sdl))


def api_schema(supergraph_sdl: str) -> str:
    """The printed API schema: no @inaccessible elements, no join/link machinery, sorted."""
    return print_schema(lexicographic_sort_schema(api_graphql_schema(supergraph_sdl)))


def join_metadata(supergraph_sdl: str) -> dict[str, list[str]]:
    """Every element's `join__*` applications, graphs named by subgraph name, sorted.

    Two supergraphs with equal metadata give the router the same planning facts, whatever
    their layout or the order in which subgraphs were listed.
    """
    document = parse(supergraph_sdl, no_location=True)
    graphs: dict[str, str] = {}
    for definition in document.definitions:
        if isinstance(definition, EnumTypeDefinitionNode) and definition.name.value.endswith(
            "__Graph"
        ):
            for value in definition.values or ():
                for directive in value.directives or ():
                    for arg in directive.arguments or ():
                        if arg.name.value == "name":
                            graphs[value.name.value] = print_ast(arg.value).strip('"')

    def normalise(directives: tuple[DirectiveNode, ...] | None) -> list[str]:
        out = []
        for directive in directives or ():
            name = directive.name.value
            if "__" not in name or name.endswith("__graph"):
                continue
            args = []
            for arg in sorted(directive.arguments or (), key=lambda a: a.name.value):
                value = print_ast(arg.value)
                if arg.name.value == "graph":
                    value = graphs.get(value, value)
                args.append(f"{arg.name.value}: {value}")
            out.append(f"@{name.split('__', 1)[1]}({', '.join(args)})")
        return sorted(out)

    found: dict[str, list[str]] = {}
    for definition in document.definitions:
        name_node = getattr(definition, "name", None)
        if name_node is None or "__" in name_node.value:
            continue
        type_name = name_node.value
        found[type_name] = normalise(getattr(definition, "directives", None))
        for member in (getattr(definition, "fields", None) or ()) + (
            getattr(definition, "values", None) or ()
        ):
            found[f"{type_name}.{member.name.value}"] = normalise(member.directives)
    return found
