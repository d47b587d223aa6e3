"""Entities through `_entities` (as a router calls them), visibility, and no N+1."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from coursegraph.errors import Conflict
from coursegraph.identity import Viewer
from coursegraph.settings import Settings
from subgraphs.courses.bootstrap import CoursesContainer
from subgraphs.courses.service import (
    MAX_LECTURES_PER_SECTION,
    MAX_SECTIONS_PER_COURSE,
    PriceInput,
)
from tests.courses.api import (
    ADD_SECTION,
    ARCHIVE,
    People,
    Person,
    add_lecture,
    add_section,
    create_course,
    enroll,
    published_course,
)
from tests.courses.conftest import CoursesServer
from tests.helpers import gql, signer_for

ENTITIES = """
query($r: [_Any!]!) {
  _entities(representations: $r) {
    __typename
    ... on Course { id title status }
    ... on Lecture { id title course { id } }
    ... on Enrollment { id enrollmentStatus: status course { id } }
  }
}"""
USER_ENROLLMENTS = """
query($r: [_Any!]!) {
  _entities(representations: $r) { ... on User { id enrollments { id status } } }
}"""
TAUGHT = """
query($r: [_Any!]!) {
  _entities(representations: $r) { ... on User { id taughtCourses { title status } } }
}"""
LISTING = """
query($t: ID!) { courses(teacherId: $t) { edges { node { title status } } } }"""
PAYMENT = """
query($r: [_Any!]!) { _entities(representations: $r) { ... on Payment { id enrollment { id } } } }
"""
FILE = """
query($r: [_Any!]!) { _entities(representations: $r) { ... on File { id viewerCanWatch } } }
"""
COMPLETE = """
mutation($u: ID!, $c: ID!, $p: ID!) {
  completePaidEnrollment(userId: $u, courseId: $c, paymentId: $p) { id }
}"""
# 15 courses: with 50 x 50 lectures possible per course, 50 would be over the estimate.
CATALOG = """
{ courses(first: 15) { edges { node {
    teacher { id } sections { lectures { title } } enrollmentCount viewerEnrollment { status }
} } } }"""


def _refs(typename: str, *ids: str) -> dict[str, Any]:
    return {"r": [{"__typename": typename, "id": i} for i in ids]}


async def test_course_and_lecture_entities_respect_drafts(courses_url: str, people: People) -> None:
    teacher = people.make("TEACHER")
    published = await published_course(courses_url, teacher, "Open")
    draft = await create_course(courses_url, teacher, "Secret")
    section = await add_section(courses_url, teacher, draft["id"])
    hidden_lecture = await add_lecture(courses_url, teacher, section["id"], "Hidden")
    refs = {
        "r": [
            {"__typename": "Course", "id": published["id"]},
            {"__typename": "Course", "id": draft["id"]},
            {"__typename": "Course", "id": "00000000-0000-0000-0000-000000000000"},
            {"__typename": "Lecture", "id": hidden_lecture["id"]},
        ]
    }
    public = (await gql(courses_url, ENTITIES, refs)).ok()["_entities"]
    assert public[0] == {
        "__typename": "Course",
        "id": published["id"],
        "title": "Open",
        "status": "PUBLISHED",
    }
    assert public[1:] == [None, None, None]
    own = (await gql(courses_url, ENTITIES, refs, token=teacher.token)).ok()["_entities"]
    assert own[1]["title"] == "Secret"
    assert own[3] == {
        "__typename": "Lecture",
        "id": hidden_lecture["id"],
        "title": "Hidden",
        "course": {"id": draft["id"]},
    }


async def test_enrollments_are_private(
    courses_url: str, people: People, courses_settings: Settings
) -> None:
    teacher = people.make("TEACHER")
    course = await published_course(courses_url, teacher)
    student = people.make()
    enrollment = (await enroll(courses_url, student, course["id"])).ok()["enroll"]
    refs = _refs("Enrollment", enrollment["id"])
    for who in (student, teacher, people.admin()):
        seen = (await gql(courses_url, ENTITIES, refs, token=who.token)).ok()["_entities"]
        assert seen[0]["enrollmentStatus"] == "ACTIVE"
    stranger = await gql(courses_url, ENTITIES, refs, token=people.make().token)
    assert stranger.ok()["_entities"] == [None]

    user_refs = _refs("User", student.id)
    own = (await gql(courses_url, USER_ENROLLMENTS, user_refs, token=student.token)).ok()
    assert own["_entities"][0]["enrollments"] == [{"id": enrollment["id"], "status": "ACTIVE"}]
    admin = await gql(courses_url, USER_ENROLLMENTS, user_refs, token=people.admin().token)
    assert len(admin.ok()["_entities"][0]["enrollments"]) == 1
    for token in (people.make().token, teacher.token, None):
        refused = await gql(courses_url, USER_ENROLLMENTS, user_refs, token=token)
        assert refused.code == "FORBIDDEN"


async def test_taught_courses_show_drafts_only_to_their_teacher(
    courses_url: str, people: People
) -> None:
    teacher = people.make("TEACHER")
    await published_course(courses_url, teacher, "Public course")
    await create_course(courses_url, teacher, "Work in progress")
    refs = _refs("User", teacher.id)

    def titles(result: dict[str, Any]) -> list[str]:
        return [c["title"] for c in result["_entities"][0]["taughtCourses"]]

    assert titles((await gql(courses_url, TAUGHT, refs)).ok()) == ["Public course"]
    own = (await gql(courses_url, TAUGHT, refs, token=teacher.token)).ok()
    assert titles(own) == ["Work in progress", "Public course"]


async def test_an_archived_course_stays_readable_but_leaves_every_listing_but_its_teachers(
    courses_url: str, people: People
) -> None:
    """The two visibilities of `policy.py`: by id an ARCHIVED course is hidden from no one
    (its students keep their course), while listings show it to its teacher and ADMIN only."""
    teacher = people.make("TEACHER")
    course = await published_course(courses_url, teacher, "Retired course")
    student = people.make()
    enrollment = (await enroll(courses_url, student, course["id"])).ok()["enroll"]
    archived = await gql(courses_url, ARCHIVE, {"id": course["id"]}, token=teacher.token)
    assert archived.ok()["archiveCourse"]["status"] == "ARCHIVED"

    by_id = _refs("Course", course["id"])
    for who in (None, student, people.make(), teacher):
        token = who.token if who else None
        seen = (await gql(courses_url, ENTITIES, by_id, token=token)).ok()["_entities"]
        assert seen[0]["status"] == "ARCHIVED"
    mine = await gql(
        courses_url, ENTITIES, _refs("Enrollment", enrollment["id"]), token=student.token
    )
    assert mine.ok()["_entities"][0]["course"] == {"id": course["id"]}

    def taught(result: dict[str, Any]) -> list[str]:
        return [c["title"] for c in result["_entities"][0]["taughtCourses"]]

    def listed(result: dict[str, Any]) -> list[str]:
        return [e["node"]["title"] for e in result["courses"]["edges"]]

    refs = _refs("User", teacher.id)
    listing = {"t": teacher.id}
    for who in (None, student):
        token = who.token if who else None
        assert taught((await gql(courses_url, TAUGHT, refs, token=token)).ok()) == []
        assert listed((await gql(courses_url, LISTING, listing, token=token)).ok()) == []
    for who in (teacher, people.admin()):
        assert taught((await gql(courses_url, TAUGHT, refs, token=who.token)).ok()) == [
            "Retired course"
        ]
        assert listed((await gql(courses_url, LISTING, listing, token=who.token)).ok()) == [
            "Retired course"
        ]


async def test_enrollment_lists_take_at_most_first(courses_url: str, people: People) -> None:
    student = people.make()
    teacher = people.make("TEACHER")
    for n in range(3):
        course = await published_course(courses_url, teacher, f"Course {n}")
        (await enroll(courses_url, student, course["id"])).ok()
    mine = "query($n: Int!) { myEnrollments(first: $n) { course { title } } }"
    listed = (await gql(courses_url, mine, {"n": 2}, token=student.token)).ok()
    assert [e["course"]["title"] for e in listed["myEnrollments"]] == ["Course 2", "Course 1"]
    query = """
    query($r: [_Any!]!, $n: Int!) {
      _entities(representations: $r) { ... on User { enrollments(first: $n) { id } } }
    }"""
    variables = {**_refs("User", student.id), "n": 1}
    one = (await gql(courses_url, query, variables, token=student.token)).ok()
    assert len(one["_entities"][0]["enrollments"]) == 1
    for n in (0, 101):
        refused = await gql(courses_url, mine, {"n": n}, token=student.token)
        assert refused.code == "BAD_USER_INPUT"


TAUGHT_FIRST = """
query($r: [_Any!]!, $first: Int!) {
  _entities(representations: $r) { ... on User { id taughtCourses(first: $first) { title } } }
}"""


async def test_taught_courses_give_at_most_first_per_teacher(
    courses_url: str, people: People
) -> None:
    prolific, other = people.make("TEACHER"), people.make("TEACHER")
    for n in range(3):
        await published_course(courses_url, prolific, f"Course {n}")
    await create_course(courses_url, prolific, "Draft")
    await published_course(courses_url, other, "Only one")
    refs = _refs("User", prolific.id, other.id)

    async def titles(first: int, token: str | None = None) -> list[list[str]]:
        result = await gql(courses_url, TAUGHT_FIRST, {**refs, "first": first}, token=token)
        return [[c["title"] for c in e["taughtCourses"]] for e in result.ok()["_entities"]]

    # Newest first, the limit per teacher, drafts only for their own teacher.
    assert await titles(2) == [["Course 2", "Course 1"], ["Only one"]]
    assert await titles(2, prolific.token) == [["Draft", "Course 2"], ["Only one"]]
    assert await titles(100) == [["Course 2", "Course 1", "Course 0"], ["Only one"]]
    for refused in (0, 101):
        result = await gql(courses_url, TAUGHT_FIRST, {**refs, "first": refused})
        assert result.code == "BAD_USER_INPUT"


async def test_curriculum_sizes_are_capped_as_declared(
    courses_url: str, people: People, container: CoursesContainer
) -> None:
    """The sizes declared to routers with @listSize(assumedSize:) hold: one course has at
    most MAX_SECTIONS_PER_COURSE sections, one section MAX_LECTURES_PER_SECTION lectures."""
    teacher = people.make("TEACHER")
    course = await create_course(courses_url, teacher, "Big course")
    viewer = Viewer(teacher.id, "TEACHER")
    for n in range(MAX_SECTIONS_PER_COURSE - 1):
        await container.courses.add_section(viewer, course["id"], f"S{n}")
    section = await add_section(courses_url, teacher, course["id"], "Last")
    over = await gql(
        courses_url, ADD_SECTION, {"courseId": course["id"], "title": "x"}, token=teacher.token
    )
    assert over.code == "CONFLICT"
    for n in range(MAX_LECTURES_PER_SECTION - 1):
        await container.courses.add_lecture(viewer, section["id"], f"L{n}", is_preview=False)
    await add_lecture(courses_url, teacher, section["id"])
    with pytest.raises(Conflict):
        await container.courses.add_lecture(viewer, section["id"], "x", is_preview=False)


async def test_payment_enrollment_is_contributed(
    courses_url: str, people: People, courses_settings: Settings
) -> None:
    course = await published_course(
        courses_url, people.make("TEACHER"), price={"amount": "5.00", "currency": "EUR"}
    )
    student = people.make()
    payments = signer_for("payments", courses_settings)
    variables = {"u": student.id, "c": course["id"], "p": "pay_77"}
    completed = (await gql(courses_url, COMPLETE, variables, signer=payments)).ok()
    enrollment_id = completed["completePaidEnrollment"]["id"]
    refs = _refs("Payment", "pay_77", "pay_unknown")
    own = (await gql(courses_url, PAYMENT, refs, token=student.token)).ok()["_entities"]
    assert own == [
        {"id": "pay_77", "enrollment": {"id": enrollment_id}},
        {"id": "pay_unknown", "enrollment": None},
    ]
    other = (await gql(courses_url, PAYMENT, refs, token=people.make().token)).ok()
    assert other["_entities"][0]["enrollment"] is None


async def test_file_entitlement_for_playback(
    courses_url: str, people: People, container: CoursesContainer
) -> None:
    teacher = people.make("TEACHER")
    course = await create_course(courses_url, teacher)
    section = await add_section(courses_url, teacher, course["id"])
    preview = await add_lecture(courses_url, teacher, section["id"], "Trailer", preview=True)
    paid_part = await add_lecture(courses_url, teacher, section["id"], "Lesson")
    as_teacher = Viewer(teacher.id, "TEACHER")
    await container.videos.attach(as_teacher, preview["id"], "file-preview")
    await container.videos.attach(as_teacher, paid_part["id"], "file-lesson")
    refs = _refs("File", "file-preview", "file-lesson", "file-unknown")

    async def watch(person: Person | None) -> list[bool]:
        token = person.token if person else None
        result = (await gql(courses_url, FILE, refs, token=token)).ok()["_entities"]
        return [entry["viewerCanWatch"] for entry in result]

    # A draft's videos play only for its teacher and admins, even previews.
    assert await watch(None) == [False, False, False]
    assert await watch(teacher) == [True, True, False]
    await container.courses.publish_course(as_teacher, course["id"])
    student = people.make()
    assert await watch(None) == [True, False, False]
    assert await watch(student) == [True, False, False]
    (await enroll(courses_url, student, course["id"])).ok()
    assert await watch(student) == [True, True, False]
    assert await watch(people.admin()) == [True, True, False]


async def _catalog(container: CoursesContainer, people: People, size: int) -> Person:
    """`size` published courses (2 sections x 2 lectures) in which the returned student
    holds a seat in every other one."""
    student = people.make()
    as_student = Viewer(student.id, "STUDENT")
    for n in range(size):
        teacher = Viewer(people.make("TEACHER").id, "TEACHER")
        price = PriceInput(Decimal("9.99"), "USD") if n % 3 == 0 else None
        course = await container.courses.create_course(teacher, f"Course {n}", None, price)
        for s in range(2):
            section = await container.courses.add_section(teacher, str(course.id), f"S{s}")
            for lecture in range(2):
                await container.courses.add_lecture(
                    teacher, str(section.id), f"L{lecture}", is_preview=False
                )
        await container.courses.publish_course(teacher, str(course.id))
        if price is None and n % 2 == 0:
            await container.enrollments.enroll(as_student, str(course.id), None)
    return student


async def _count_catalog_statements(
    server: CoursesServer, container: CoursesContainer, people: People, size: int
) -> int:
    student = await _catalog(container, people, size)
    await gql(server.url, CATALOG, token=student.token)  # warm up: keys, connections
    server.statements.reset()
    result = (await gql(server.url, CATALOG, token=student.token)).ok()
    edges = result["courses"]["edges"]
    assert len(edges) == size
    assert all(len(e["node"]["sections"]) == 2 for e in edges)
    assert any(e["node"]["viewerEnrollment"] for e in edges)
    return server.statements.count


async def test_catalog_query_has_no_n_plus_1(
    courses_server: CoursesServer,
    people: People,
    container: CoursesContainer,
    clean_database: None,
) -> None:
    small = await _count_catalog_statements(courses_server, container, people, 5)
    # Another clean slate for the second measurement.
    async with container.database.transaction() as session:
        await session.execute(text("TRUNCATE courses.courses CASCADE"))
    large = await _count_catalog_statements(courses_server, container, people, 15)
    print(f"\nSQL statements for the catalog query: 5 courses -> {small}, 15 -> {large}")
    assert small == large
    # The page with its counts, then one batch each: sections with their lectures, and
    # the viewer's seats.
    assert large == 3


async def test_entities_are_batched(
    courses_server: CoursesServer,
    people: People,
    container: CoursesContainer,
    clean_database: None,
) -> None:
    await _catalog(container, people, 30)
    page = await gql(courses_server.url, "{ courses(first: 30) { edges { node { id } } } }")
    ids = [e["node"]["id"] for e in page.ok()["courses"]["edges"]]
    courses_server.statements.reset()
    result = await gql(courses_server.url, ENTITIES, _refs("Course", *ids))
    assert len(result.ok()["_entities"]) == 30
    assert courses_server.statements.count == 1
