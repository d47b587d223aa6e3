"""Apollo's artefacts as the router compares with them."""

from __future__ import annotations

from graphql import build_schema, lexicographic_sort_schema, print_ast, print_schema

from router.api_schema import DEFER_DEFINITION


def apollo_router_api(apollo_api_sdl: str) -> str:
    """The API schema `toApiSchema` derived, as Apollo Router serves it: with `@defer`
    declared (the router derives it with `includeDefer`, and so does ours)."""
    if "directive @defer" not in apollo_api_sdl:
        apollo_api_sdl = f"{print_ast(DEFER_DEFINITION)}\n\n{apollo_api_sdl}"
    return print_schema(lexicographic_sort_schema(build_schema(apollo_api_sdl)))
