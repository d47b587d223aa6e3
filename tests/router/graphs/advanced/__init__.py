"""Catalog / people / enroll: compound and nested keys, non-resolvable keys, @override,
@requires with arguments, @provides, shareable root fields, mutations, subgraph errors."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

COURSES: dict[str, dict[str, Any]] = {
    "c1": {
        "id": "c1",
        "code": "PY101",
        "org": {"id": "o1", "name": "Acme"},
        "title": "Python",
        "base": 100,
        "teacher": "t1",
    },
    "c2": {
        "id": "c2",
        "code": "GO201",
        "org": {"id": "o1", "name": "Acme"},
        "title": "Go",
        "base": 80,
        "teacher": "t2",
    },
    "c3": {
        "id": "c3",
        "code": "PY101",
        "org": {"id": "o2", "name": "Globex"},
        "title": "Snakes",
        "base": 50,
        "teacher": "t1",
    },
}
TEACHERS = {
    "t1": {"id": "t1", "name": "Barbara Liskov", "bio": "Substitution."},
    "t2": {"id": "t2", "name": "Edsger Dijkstra", "bio": "Shortest paths."},
}
SEATS = {("o1", "PY101"): 30, ("o1", "GO201"): 12, ("o2", "PY101"): 3}
RATINGS = {("o1", "PY101"): 5, ("o1", "GO201"): 4, ("o2", "PY101"): 2}
ENROLMENTS = {"count": 0}


def _course_by_key(rep: dict[str, Any]) -> dict[str, Any] | None:
    if "id" in rep:
        return COURSES.get(rep["id"])
    for course in COURSES.values():
        if course["org"]["id"] == rep["org"]["id"] and course["code"] == rep["code"]:
            return course
    return None


def _fail(*_: Any) -> None:
    raise GraphQLError("broken on purpose")


def _enroll(_: Any, __: Any, code: str) -> int:
    ENROLMENTS["count"] += 1
    return ENROLMENTS["count"]


def _rename(_: Any, __: Any, id: str, name: str) -> dict[str, Any]:
    # Reports the enrolment count seen when it ran, so tests can check mutation order.
    return {**TEACHERS[id], "name": name, "bio": f"after {ENROLMENTS['count']} enrolments"}


def _price(course: dict[str, Any], _: Any, currency: str) -> int:
    return course["base"] if currency == "EUR" else course["base"] * 11 // 10


def _enroll_course(rep: dict[str, Any]) -> dict[str, Any]:
    key = (rep["org"]["id"], rep["code"])
    return {**rep, "seats": SEATS.get(key), "rating": RATINGS.get(key)}


RESOLVERS: dict[str, dict[str, dict[str, Any]]] = {
    "catalog": {
        "Query": {
            "courses": lambda *_: list(COURSES.values()),
            "course": lambda _, __, id: COURSES.get(id),
        },
        "Mutation": {"publish": lambda _, __, id: COURSES.get(id)},
        "Course": {
            "__resolve_reference": _course_by_key,
            "price": _price,
            "rating": lambda *_: -1,
            "broken": _fail,
            "strict": _fail,
            "teacher": lambda course, _: {
                "id": course["teacher"],
                "name": TEACHERS[course["teacher"]]["name"],
            },
        },
    },
    "people": {
        "Query": {"teachers": lambda *_: list(TEACHERS.values())},
        "Mutation": {"renameTeacher": _rename},
        "Teacher": {"__resolve_reference": lambda rep: TEACHERS.get(rep["id"])},
    },
    "enroll": {
        "Query": {
            "courses": lambda *_: [
                _enroll_course({"org": {"id": org}, "code": code}) for org, code in SEATS
            ]
        },
        "Mutation": {"enroll": _enroll},
        "Course": {
            "__resolve_reference": _enroll_course,
            "priceLabel": lambda course, _: f"EUR {course['price']}",
        },
    },
}
