"""Derive the public API schema from a supergraph: what clients validate against.

Drops every `@inaccessible` element (under whatever name the supergraph imports it) and
the link/join machinery, and every directive application except the built-in ones clients
may introspect (`@deprecated`, `@specifiedBy`, `@oneOf`). Directive definitions with
executable locations (`directive @trace on FIELD`, brought in by `@composeDirective`) stay,
restricted to those locations, as in Apollo's API schema: operations that use them must
validate. `@defer` is declared too: the router delivers deferred fragments incrementally
(router/incremental.py), so clients may use it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from graphql import (
    DirectiveDefinitionNode,
    DirectiveNode,
    DocumentNode,
    GraphQLSchema,
    SchemaDefinitionNode,
    SchemaExtensionNode,
    TypeDefinitionNode,
    TypeExtensionNode,
    build_ast_schema,
    parse,
)

from router.supergraph import Supergraph, named_type_name

# As Apollo Router's API schema declares it (graphql-core knows the directive but does not
# add it to a schema by itself).
DEFER_DEFINITION = parse(
    "directive @defer(if: Boolean! = true, label: String) on FRAGMENT_SPREAD | INLINE_FRAGMENT"
).definitions[0]
KEPT_DIRECTIVES = frozenset({"deprecated", "specifiedBy", "oneOf"})
EXECUTABLE_LOCATIONS = frozenset(
    {
        "QUERY",
        "MUTATION",
        "SUBSCRIPTION",
        "FIELD",
        "FRAGMENT_DEFINITION",
        "FRAGMENT_SPREAD",
        "INLINE_FRAGMENT",
        "VARIABLE_DEFINITION",
    }
)


def build_api_schema(supergraph: Supergraph) -> GraphQLSchema:
    return build_ast_schema(api_document(supergraph), assume_valid_sdl=True)


def api_document(supergraph: Supergraph) -> DocumentNode:
    inaccessible = supergraph.inaccessible_name
    machinery = tuple(f"{prefix}__" for prefix in supergraph.links.values())

    def hidden(node: Any) -> bool:
        return any(d.name.value == inaccessible for d in node.directives or ())

    removed: set[str] = set()
    for definition in supergraph.document.definitions:
        if isinstance(definition, TypeDefinitionNode | TypeExtensionNode):
            name = definition.name.value
            if name.startswith(machinery) or hidden(definition):
                removed.add(name)

    def clean_directives(directives: Any) -> tuple[DirectiveNode, ...]:
        return tuple(d for d in directives or () if d.name.value in KEPT_DIRECTIVES)

    def clean_args(args: Any) -> tuple[Any, ...]:
        return tuple(
            replace(a, directives=clean_directives(a.directives))
            for a in args or ()
            if not hidden(a) and named_type_name(a.type) not in removed
        )

    definitions: list[Any] = []
    if not any(
        isinstance(d, DirectiveDefinitionNode) and d.name.value == "defer"
        for d in supergraph.document.definitions
    ):
        definitions.append(DEFER_DEFINITION)
    for definition in supergraph.document.definitions:
        if isinstance(definition, DirectiveDefinitionNode):
            locations = tuple(
                loc for loc in definition.locations if loc.value in EXECUTABLE_LOCATIONS
            )
            if locations:
                definitions.append(
                    replace(
                        definition, locations=locations, arguments=clean_args(definition.arguments)
                    )
                )
            continue
        if isinstance(definition, SchemaDefinitionNode | SchemaExtensionNode):
            ops = tuple(
                op for op in definition.operation_types or () if op.type.name.value not in removed
            )
            definitions.append(replace(definition, directives=(), operation_types=ops))
            continue
        if not isinstance(definition, TypeDefinitionNode | TypeExtensionNode):
            continue
        if definition.name.value in removed:
            continue
        changes: dict[str, Any] = {"directives": clean_directives(definition.directives)}
        fields = getattr(definition, "fields", None)
        if fields is not None:
            kept = []
            for fdef in fields:
                if hidden(fdef) or named_type_name(fdef.type) in removed:
                    continue
                extra: dict[str, Any] = {"directives": clean_directives(fdef.directives)}
                if hasattr(fdef, "arguments"):
                    extra["arguments"] = clean_args(fdef.arguments)
                kept.append(replace(fdef, **extra))
            changes["fields"] = tuple(kept)
        values = getattr(definition, "values", None)
        if values is not None:
            changes["values"] = tuple(
                replace(v, directives=clean_directives(v.directives))
                for v in values
                if not hidden(v)
            )
        interfaces = getattr(definition, "interfaces", None)
        if interfaces is not None:
            changes["interfaces"] = tuple(i for i in interfaces if i.name.value not in removed)
        members = getattr(definition, "types", None)
        if members is not None:
            changes["types"] = tuple(t for t in members if t.name.value not in removed)
        definitions.append(replace(definition, **changes))
    return DocumentNode(definitions=tuple(definitions))
