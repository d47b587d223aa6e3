"""Authorization directives (@authenticated, @requiresScopes, @policy) composed as
@apollo/composition 2.14.4 composes them: same supergraph text, scopes and policies of
shared elements merged as Apollo's DNF conjunction, and refused on interfaces."""

from __future__ import annotations

from pathlib import Path

from router.composition import SubgraphSource, compose
from router.composition.directives import dnf_conjunction

FIXTURE = Path(__file__).parent / "fixtures" / "security"


def test_supergraph_text_is_apollos() -> None:
    sources = [
        SubgraphSource(p.stem, f"http://{p.stem}.test/graphql", p.read_text(encoding="utf-8"))
        for p in sorted(FIXTURE.glob("*.graphql"))
        if not p.name.startswith("supergraph")
    ]
    ours = compose(sources).raise_for_errors()
    assert ours.strip() == (FIXTURE / "supergraph.graphql").read_text(encoding="utf-8").strip()


def test_dnf_conjunction() -> None:
    assert dnf_conjunction([[["x"]], [["y"], ["x"]]]) == [["x"]]
    assert dnf_conjunction([[["x"]], [["y"], ["x"]], [["q", "r"], ["y"]]]) == [
        ["x", "y"],
        ["q", "r", "x"],
    ]
    assert dnf_conjunction([[["o", "m"]], [["m"], ["n"]]]) == [["m", "o"]]
    assert dnf_conjunction([[], [["a"]]]) == [["a"]]


def test_authorization_on_interfaces_is_refused() -> None:
    sdl = (
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", '
        'import: ["@authenticated", "@requiresScopes"]) '
        "type Query { node: Node } "
        'interface Node @authenticated { id: ID! @requiresScopes(scopes: [["a"]]) } '
        "type Item implements Node { id: ID! }"
    )
    result = compose([SubgraphSource("a", "http://a", sdl)])
    assert [(e.code, e.coordinate) for e in result.errors] == [
        ("AUTH_REQUIREMENTS_APPLIED_ON_INTERFACE", "Node"),
        ("AUTH_REQUIREMENTS_APPLIED_ON_INTERFACE", "Node.id"),
    ]
    assert result.errors[0].message == (
        'Invalid use of @authenticated on interface "Node": @authenticated cannot be applied '
        "on interfaces, interface fields and interface objects"
    )
