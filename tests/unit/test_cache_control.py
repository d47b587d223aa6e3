"""Cache hints → a response's policy (coursegraph/cache_control.py): Apollo's rules."""

from __future__ import annotations

import pytest
from graphql import build_schema, parse

from coursegraph.cache_control import (
    CacheHint,
    CachePolicy,
    CacheScope,
    check_hints,
    policy_of,
)

SDL = """
scalar _Any
union _Entity = Course | User
type Query {
  courses: [Course!]!
  course(id: ID!): Course
  me: User
  version: String
  _entities(representations: [_Any!]!): [_Entity]!
}
type Mutation { rename(id: ID!): Course }
type Course { id: ID! title: String! price: Money teacher: User! mine: Enrollment }
type Money { amount: String! }
type User { id: ID! name: String! email: String }
type Enrollment { id: ID! course: Course! }
"""
SCHEMA = build_schema(SDL)
PUBLIC = CacheHint(max_age=60, scope=CacheScope.PUBLIC)
HINTS = {
    "Query.courses": CacheHint(max_age=120),
    "Course": PUBLIC,
    "Money": CacheHint(inherit_max_age=True),
    "Course.teacher": CacheHint(inherit_max_age=True),
    "User": CacheHint(max_age=300),
    "User.email": CacheHint(scope=CacheScope.PRIVATE),
}


def policy(query: str) -> CachePolicy:
    return policy_of(SCHEMA, HINTS, parse(query))


def test_a_field_hint_wins_over_its_type_and_the_least_max_age_wins() -> None:
    # `courses` says 120 (over Course's 60); scalars, Money and teacher inherit it.
    got = policy("{ courses { id title price { amount } teacher { id name } } }")
    assert (got.max_age, got.scope) == (120, CacheScope.PUBLIC)
    assert got.types == {"Course", "Money", "User"}
    # An unhinted field returning Course takes Course's 60; User's own 300 is more.
    assert policy('{ course(id: "1") { title mine { course { id } } } }').max_age == 0
    assert policy("{ courses { id } me { name } }").max_age == 120


def test_a_root_field_takes_its_type_hint_when_it_has_none() -> None:
    assert policy('{ course(id: "1") { title } }').max_age == 60


def test_unhinted_root_scalars_and_objects_are_not_cacheable() -> None:
    assert policy("{ version }").max_age == 0
    # `mine` returns an unhinted object: the whole answer is uncacheable.
    assert policy('{ course(id: "1") { title mine { id } } }').max_age == 0


def test_a_private_field_makes_the_answer_private() -> None:
    got = policy("{ me { name email } }")
    assert (got.max_age, got.scope) == (300, CacheScope.PRIVATE)
    assert policy("{ me { name } }").scope is CacheScope.PUBLIC


def test_entities_take_each_member_type_hint_and_leave_out_the_entity_types() -> None:
    query = (
        "query($r: [_Any!]!) { _entities(representations: $r) "
        "{ ... on Course { title teacher { id } } } }"
    )
    got = policy(query)
    assert got.max_age == 60
    # Course itself is tagged by the router (Course:<key>); what it nests is listed.
    assert got.types == {"User"}


def test_fragments_are_followed_and_mutations_never_cached() -> None:
    query = "{ courses { ...Card } } fragment Card on Course { title mine { id } }"
    assert policy(query).max_age == 0
    assert policy('mutation { rename(id: "1") { title } }').max_age == 0


def test_headers_say_no_store_or_max_age_scope_and_tags() -> None:
    assert CachePolicy(0, CacheScope.PUBLIC).headers() == {"cache-control": "no-store"}
    assert CachePolicy(60, CacheScope.PRIVATE, frozenset({"User", "Course"})).headers() == {
        "cache-control": "max-age=60, private",
        "cache-tag": "Course,User",
    }


def test_run_time_restrictions_only_narrow() -> None:
    base = CachePolicy(60, CacheScope.PUBLIC)
    assert base.restricted(None, private=True).scope is CacheScope.PRIVATE
    assert base.restricted(0, private=False).headers() == {"cache-control": "no-store"}
    assert base.restricted(600, private=False).max_age == 60


def test_a_hint_naming_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="Course has no field titel"):
        check_hints(SCHEMA, {"Course.titel": PUBLIC})
    with pytest.raises(ValueError, match="no object"):
        check_hints(SCHEMA, {"Curse": PUBLIC})
    with pytest.raises(ValueError, match="not both"):
        CacheHint(max_age=1, inherit_max_age=True)
