"""The API schema derived from a supergraph: no @inaccessible elements, no machinery."""

from __future__ import annotations

from pathlib import Path

from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLObjectType, print_schema

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
