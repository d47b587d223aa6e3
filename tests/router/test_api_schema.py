"""The API schema derived from a supergraph: no @inaccessible elements, no machinery."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLObjectType,
    parse,
    print_schema,
    validate,
)

from router.api_schema import build_api_schema
from router.supergraph import Supergraph

GRAPHS = Path(__file__).parent / "graphs"


def _api(name: str) -> str:
    return print_schema(
        build_api_schema(Supergraph.from_file(GRAPHS / name / "supergraph.graphql"))
    )


def test_inaccessible_elements_are_removed() -> None:
    schema = build_api_schema(Supergraph.from_file(GRAPHS / "hidden" / "supergraph.graphql"))
    query = schema.query_type
    assert query is not None
    assert set(query.fields) == {"items"}
    assert set(query.fields["items"].args) == {"filter"}
    item = schema.get_type("Item")
    assert isinstance(item, GraphQLObjectType)
    assert set(item.fields) == {"id", "state", "note", "label"}
    state = schema.get_type("State")
    assert isinstance(state, GraphQLEnumType)
    assert set(state.values) == {"OPEN", "CLOSED"}
    filter_type = schema.get_type("Filter")
    assert isinstance(filter_type, GraphQLInputObjectType)
    assert set(filter_type.fields) == {"state"}
    assert schema.get_type("Secret") is None


def test_join_and_link_machinery_is_gone() -> None:
    for name in ("basic", "advanced", "interfaces", "hidden"):
        printed = _api(name)
        for marker in ("join__", "link__", "@link", "@join", "@inaccessible", "@tag", "_Entity"):
            assert marker not in printed, (name, marker)


def test_interface_object_types_stay_interfaces() -> None:
    printed = _api("interfaces")
    assert "interface Media" in printed
    assert "type Book implements Media" in printed
    assert "views: Int" in printed
    assert "union SearchResult = Book | Video | Author" in printed


def test_supergraph_reads_join_metadata() -> None:
    supergraph = Supergraph.from_file(GRAPHS / "advanced" / "supergraph.graphql")
    assert {s.name for s in supergraph.subgraphs.values()} == {"catalog", "people", "enroll"}
    course = supergraph.types["Course"]
    assert [k.fields for k in course.keys["CATALOG"]] == ["id", "org { id } code"]
    assert course.resolvable["rating"] == frozenset({"ENROLL"})
    assert course.resolvable["price"] == frozenset({"CATALOG"})
    teacher = supergraph.types["Teacher"]
    assert [k.resolvable for k in teacher.keys["CATALOG"]] == [False]
    media = Supergraph.from_file(GRAPHS / "interfaces" / "supergraph.graphql").types["Media"]
    assert media.interface_object_graphs == {"STATS", "RATINGS"}


HIDDEN = (GRAPHS / "hidden" / "supergraph.graphql").read_text(encoding="utf-8")
INACCESSIBLE_LINK = '@link(url: "https://specs.apollo.dev/inaccessible/v0.2", for: SECURITY)'
TAG_LINK = '@link(url: "https://specs.apollo.dev/tag/v0.3")'


@pytest.mark.parametrize(
    "link",
    [
        '@link(url: "https://specs.apollo.dev/inaccessible/v0.2", for: SECURITY, '
        'import: [{name: "@inaccessible", as: "@hidden"}])',
        '@link(url: "https://specs.apollo.dev/inaccessible/v0.2", as: "hidden", for: SECURITY)',
    ],
)
def test_renamed_inaccessible_and_tag_are_honoured(link: str) -> None:
    assert INACCESSIBLE_LINK in HIDDEN
    assert TAG_LINK in HIDDEN
    renamed = (
        HIDDEN.replace("@inaccessible", "@hidden")
        .replace(INACCESSIBLE_LINK, link)
        .replace(TAG_LINK, TAG_LINK[:-1] + ', import: [{name: "@tag", as: "@label"}])')
        .replace("@tag(", "@label(")
    )
    supergraph = Supergraph(renamed)
    assert (supergraph.inaccessible_name, supergraph.tag_name) == ("hidden", "label")
    assert print_schema(build_api_schema(supergraph)) == _api("hidden")


def test_imported_without_rename_keeps_the_spec_name() -> None:
    link = INACCESSIBLE_LINK[:-1] + ', import: ["@inaccessible"])'
    supergraph = Supergraph(HIDDEN.replace(INACCESSIBLE_LINK, link))
    assert supergraph.inaccessible_name == "inaccessible"
    assert print_schema(build_api_schema(supergraph)) == _api("hidden")


def test_executable_directive_definitions_stay() -> None:
    sdl = HIDDEN + (
        "\ndirective @trace(level: Int = 1) on FIELD | QUERY | FIELD_DEFINITION\n"
        "directive @audit(reason: String!) on OBJECT\n"
    )
    schema = build_api_schema(Supergraph(sdl))
    trace = schema.get_directive("trace")
    assert trace is not None
    assert [loc.name for loc in trace.locations] == ["FIELD", "QUERY"]
    assert schema.get_directive("audit") is None
    document = parse("query Q @trace { items @trace(level: 2) { id } }")
    assert validate(schema, document) == []
