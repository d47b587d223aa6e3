"""Compound and nested keys, non-resolvable keys, @requires with arguments, @override,
@provides, shareable root fields."""

from __future__ import annotations

from tests.router.conftest import Stack


def test_compound_nested_key_and_override(stack: Stack) -> None:
    result = stack.query("advanced", "{ courses { title seats rating } }")
    assert result == {
        "data": {
            "courses": [
                {"title": "Python", "seats": 30, "rating": 5},
                {"title": "Go", "seats": 12, "rating": 4},
                {"title": "Snakes", "seats": 3, "rating": 2},
            ]
        }
    }


def test_requires_with_argument_beside_client_argument(stack: Stack) -> None:
    stack.reset()
    result = stack.query("advanced", '{ course(id: "c1") { price(currency: "USD") priceLabel } }')
    assert result == {"data": {"course": {"price": 110, "priceLabel": "EUR 100"}}}
    [entities] = stack.requests("advanced", "enroll")
    rep = entities["variables"]["representations"][0]
    assert rep == {"__typename": "Course", "org": {"id": "o1"}, "code": "PY101", "price": 100}


def test_shareable_root_field_goes_where_the_fields_are(stack: Stack) -> None:
    stack.reset()
    result = stack.query("advanced", "{ courses { seats } }")
    assert result == {"data": {"courses": [{"seats": 30}, {"seats": 12}, {"seats": 3}]}}
    assert stack.requests("advanced", "catalog") == []


def test_non_resolvable_key_with_provides(stack: Stack) -> None:
    stack.reset()
    result = stack.query("advanced", '{ course(id: "c2") { teacher { name } } }')
    assert result == {"data": {"course": {"teacher": {"name": "Edsger Dijkstra"}}}}
    assert stack.requests("advanced", "people") == []
    result = stack.query("advanced", '{ course(id: "c2") { teacher { name bio } } }')
    assert result == {
        "data": {"course": {"teacher": {"name": "Edsger Dijkstra", "bio": "Shortest paths."}}}
    }


def test_mutations_run_in_order(stack: Stack) -> None:
    result = stack.query(
        "advanced",
        """mutation {
             first: enroll(code: "PY101")
             teacher: renameTeacher(id: "t1", name: "B. Liskov") { name bio }
             second: enroll(code: "GO201")
           }""",
    )
    data = result["data"]
    assert data["second"] == data["first"] + 1
    assert data["teacher"] == {"name": "B. Liskov", "bio": f"after {data['first']} enrolments"}
    assert list(data) == ["first", "teacher", "second"]
