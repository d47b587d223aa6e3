"""Views of a supergraph for comparison: its API schema and its join metadata.

The API schema is derived by the router (`router.api_schema`), so the router, the composer
and the schema check agree about what clients see. One addition here: executable directives
(`directive @trace on FIELD`) that every subgraph declares are part of Apollo's API schema,
so clients may use them; the router's derivation drops all directive definitions, so they
are put back (restricted to their executable locations) before printing and validating.
"""

from __future__ import annotations

from graphql import (
    DirectiveDefinitionNode,
    DirectiveNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    GraphQLSchema,
    build_ast_schema,
    lexicographic_sort_schema,
    parse,
    print_ast,
    print_schema,
)

from router.api_schema import api_document
from router.composition.directives import EXECUTABLE_LOCATIONS
from router.supergraph import Supergraph


def api_graphql_schema(supergraph_sdl: str) -> GraphQLSchema:
    return build_ast_schema(api_document_for_sdl(supergraph_sdl), assume_valid_sdl=True)


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


def api_document_for_sdl(supergraph_sdl: str) -> DocumentNode:
    """The API schema document of a supergraph SDL (for schemas of older commits too)."""
    supergraph = Supergraph(supergraph_sdl)
    document = api_document(supergraph)
    executable = []
    for definition in supergraph.document.definitions:
        if not isinstance(definition, DirectiveDefinitionNode):
            continue
        locations = tuple(loc for loc in definition.locations if loc.value in EXECUTABLE_LOCATIONS)
        if locations:
            executable.append(
                DirectiveDefinitionNode(
                    name=definition.name,
                    description=definition.description,
                    arguments=definition.arguments,
                    repeatable=definition.repeatable,
                    locations=locations,
                )
            )
    return DocumentNode(definitions=(*executable, *document.definitions))
