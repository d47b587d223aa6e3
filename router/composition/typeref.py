"""Type references across subgraphs: equality and the subtyping composition allows.

Apollo's default rules: `T!` is a subtype of `T`, an object is a subtype of an interface
it implements or a union it belongs to, and lists are covariant (`[T]` never widens to `T`).
"""

from __future__ import annotations

from collections.abc import Mapping, Set

from graphql import ListTypeNode, NamedTypeNode, NonNullTypeNode, TypeNode, print_ast


def same(a: TypeNode, b: TypeNode) -> bool:
    return print_ast(a) == print_ast(b)


def is_subtype(sup: TypeNode, sub: TypeNode, implementers: Mapping[str, Set[str]]) -> bool:
    """Whether `sub` may stand where `sup` is expected (equal types included)."""
    if isinstance(sub, NonNullTypeNode):
        if isinstance(sup, NonNullTypeNode):
            return is_subtype(sup.type, sub.type, implementers)
        return is_subtype(sup, sub.type, implementers)
    if isinstance(sup, NonNullTypeNode):
        return False
    if isinstance(sup, ListTypeNode):
        return isinstance(sub, ListTypeNode) and is_subtype(sup.type, sub.type, implementers)
    if isinstance(sub, ListTypeNode):
        return False
    assert isinstance(sup, NamedTypeNode)
    assert isinstance(sub, NamedTypeNode)
    return sup.name.value == sub.name.value or sub.name.value in implementers.get(
        sup.name.value, ()
    )


def is_strict_subtype(sup: TypeNode, sub: TypeNode, implementers: Mapping[str, Set[str]]) -> bool:
    return not same(sup, sub) and is_subtype(sup, sub, implementers)
