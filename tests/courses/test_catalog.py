"""Catalog and curriculum over HTTP: authoring rights, lifecycle, prices, slugs, order."""

from __future__ import annotations

import pytest

from coursegraph.settings import Settings
from coursegraph.testing import ServerThread
from subgraphs.courses.app import create_app
from subgraphs.courses.settings import CoursesSettings
from tests.courses.api import (
    ADD_LECTURE,
    ADD_SECTION,
    ARCHIVE,
    COURSE,
    CREATE_COURSE,
    PUBLISH,
    UPDATE_COURSE,
    People,
    add_lecture,
    add_section,
    create_course,
    published_course,
)
from tests.helpers import gql

REORDER_SECTIONS = """
mutation($courseId: ID!, $ids: [ID!]!) {
  reorderSections(courseId: $courseId, sectionIds: $ids) { id title position }
}"""
REORDER_LECTURES = """
mutation($sectionId: ID!, $ids: [ID!]!) {
  reorderLectures(sectionId: $sectionId, lectureIds: $ids) { id title position }
}"""


async def test_teacher_creates_a_draft_with_a_price(courses_url: str, people: People) -> None:
    teacher = people.make("TEACHER")
    course = await create_course(
        courses_url,
        teacher,
        "  GraphQL   from Scratch ",
        description="Types, resolvers, federation.",
        price={"amount": "49.90", "currency": "usd"},
    )
    assert course["title"] == "GraphQL from Scratch"
    assert course["slug"] == "graphql-from-scratch"
    assert course["status"] == "DRAFT"
    assert course["price"] == {"amount": "49.90", "currency": "USD"}
    assert course["isFree"] is False
    assert course["teacher"] == {"id": teacher.id}
    assert course["publishedAt"] is None
    assert course["enrollmentCount"] == 0


async def test_prices_keep_the_currency_places(courses_url: str, people: People) -> None:
    teacher = people.make("TEACHER")
    yen = await create_course(
        courses_url, teacher, "Yen", price={"amount": "4800", "currency": "JPY"}
    )
    dinar = await create_course(
        courses_url, teacher, "Dinar", price={"amount": 12.5, "currency": "KWD"}
    )
    zero = await create_course(
        courses_url, teacher, "Zero", price={"amount": "0.00", "currency": "EUR"}
    )
    assert yen["price"] == {"amount": "4800", "currency": "JPY"}
    assert dinar["price"] == {"amount": "12.500", "currency": "KWD"}
    assert zero["price"] is None
    assert zero["isFree"] is True


@pytest.mark.parametrize(
    ("price", "message"),
    [
        ({"amount": "-1.00", "currency": "USD"}, "negative"),
        ({"amount": "10.001", "currency": "USD"}, "at most 2 decimal places"),
        ({"amount": "100.5", "currency": "JPY"}, "at most 0 decimal places"),
        ({"amount": "10.00", "currency": "XXX"}, "not a supported currency"),
        ({"amount": "10.00", "currency": "dollars"}, "not a supported currency"),
        ({"amount": "99999999999", "currency": "USD"}, "too large"),
        ({"amount": "NaN", "currency": "USD"}, "decimal number"),
        ({"amount": "1E+300000", "currency": "USD"}, "decimal number"),
        ({"amount": "21474836.48", "currency": "USD"}, "at most 21474836.47 USD"),
    ],
)
async def test_bad_prices_are_refused(
    courses_url: str, people: People, price: dict[str, str], message: str
) -> None:
    teacher = people.make("TEACHER")
    result = await gql(
        courses_url,
        CREATE_COURSE,
        {"input": {"title": "Priced", "price": price}},
        token=teacher.token,
    )
    assert result.code == "BAD_USER_INPUT"
    assert message in result.errors[0]["message"]


async def test_students_and_visitors_cannot_create(courses_url: str, people: People) -> None:
    variables = {"input": {"title": "Mine"}}
    student = people.make("STUDENT")
    refused = await gql(courses_url, CREATE_COURSE, variables, token=student.token)
    assert refused.code == "FORBIDDEN"
    # Worded as the router words it: what the field needs and who has it.
    assert refused.errors[0]["message"] == (
        "Mutation.createCourse needs scope `teach` (TEACHER or ADMIN)."
    )
    anonymous = await gql(courses_url, CREATE_COURSE, variables)
    assert anonymous.code == "UNAUTHENTICATED"
    assert anonymous.errors[0]["message"] == (
        "Mutation.createCourse needs a signed-in user with scope `teach` (TEACHER or ADMIN)."
    )
    assert (await gql(courses_url, CREATE_COURSE, variables, token="nonsense")).code == (
        "UNAUTHENTICATED"
    )


async def test_slugs_are_unique(courses_url: str, people: People) -> None:
    teacher = people.make("TEACHER")
    first = await create_course(courses_url, teacher, "Café Crème 101!")
    second = await create_course(courses_url, teacher, "Cafe creme 101")
    assert first["slug"] == "cafe-creme-101"
    assert second["slug"].startswith("cafe-creme-101-")
    found = await gql(courses_url, COURSE, {"slug": second["slug"]}, token=teacher.token)
    assert found.ok()["course"]["id"] == second["id"]


async def test_a_teacher_cannot_edit_another_teachers_course(
    courses_url: str, people: People
) -> None:
    owner, other = people.make("TEACHER"), people.make("TEACHER")
    course = await published_course(courses_url, owner)
    section = (await gql(courses_url, COURSE, {"id": course["id"]})).ok()["course"]["sections"][0]
    attempts = [
        (UPDATE_COURSE, {"id": course["id"], "input": {"title": "Stolen"}}),
        (ARCHIVE, {"id": course["id"]}),
        (ADD_SECTION, {"courseId": course["id"], "title": "Extra"}),
        (ADD_LECTURE, {"sectionId": section["id"], "input": {"title": "Extra"}}),
    ]
    for query, variables in attempts:
        assert (await gql(courses_url, query, variables, token=other.token)).code == "FORBIDDEN"
    unchanged = (await gql(courses_url, COURSE, {"id": course["id"]})).ok()["course"]
    assert unchanged["title"] == course["title"]
    assert unchanged["status"] == "PUBLISHED"
    assert len(unchanged["sections"]) == 1


async def test_another_teachers_draft_is_not_found(courses_url: str, people: People) -> None:
    owner, other = people.make("TEACHER"), people.make("TEACHER")
    draft = await create_course(courses_url, owner)
    update = {"id": draft["id"], "input": {"title": "Mine now"}}
    assert (await gql(courses_url, UPDATE_COURSE, update, token=other.token)).code == "NOT_FOUND"


async def test_admin_may_edit_any_course(courses_url: str, people: People) -> None:
    course = await create_course(courses_url, people.make("TEACHER"))
    admin = people.admin()
    result = await gql(
        courses_url,
        UPDATE_COURSE,
        {"id": course["id"], "input": {"description": "Reviewed", "price": None}},
        token=admin.token,
    )
    assert result.ok()["updateCourse"]["description"] == "Reviewed"


async def test_update_changes_only_what_is_given(courses_url: str, people: People) -> None:
    teacher = people.make("TEACHER")
    course = await create_course(
        courses_url,
        teacher,
        "Original",
        description="Keep me",
        price={"amount": "10.00", "currency": "EUR"},
    )
    retitled = await gql(
        courses_url,
        UPDATE_COURSE,
        {"id": course["id"], "input": {"title": "Renamed"}},
        token=teacher.token,
    )
    data = retitled.ok()["updateCourse"]
    assert (data["title"], data["description"]) == ("Renamed", "Keep me")
    assert data["price"] == {"amount": "10.00", "currency": "EUR"}
    assert data["slug"] == course["slug"]  # links keep working

    freed = await gql(
        courses_url,
        UPDATE_COURSE,
        {"id": course["id"], "input": {"price": None, "description": None}},
        token=teacher.token,
    )
    data = freed.ok()["updateCourse"]
    assert data["price"] is None
    assert data["isFree"] is True
    assert data["description"] is None
    assert data["title"] == "Renamed"


async def test_lifecycle_draft_published_archived(courses_url: str, people: People) -> None:
    teacher = people.make("TEACHER")
    course = await create_course(courses_url, teacher)
    empty = await gql(courses_url, PUBLISH, {"id": course["id"]}, token=teacher.token)
    assert empty.code == "CONFLICT"
    assert "at least one lecture" in empty.errors[0]["message"]
    early = await gql(courses_url, ARCHIVE, {"id": course["id"]}, token=teacher.token)
    assert early.code == "CONFLICT"

    section = await add_section(courses_url, teacher, course["id"])
    await add_lecture(courses_url, teacher, section["id"])
    published = (await gql(courses_url, PUBLISH, {"id": course["id"]}, token=teacher.token)).ok()
    assert published["publishCourse"]["status"] == "PUBLISHED"
    assert published["publishCourse"]["publishedAt"]
    again = await gql(courses_url, PUBLISH, {"id": course["id"]}, token=teacher.token)
    assert again.ok()["publishCourse"]["publishedAt"] == published["publishCourse"]["publishedAt"]

    archived = await gql(courses_url, ARCHIVE, {"id": course["id"]}, token=teacher.token)
    assert archived.ok()["archiveCourse"]["status"] == "ARCHIVED"
    for query, variables in [
        (PUBLISH, {"id": course["id"]}),
        (UPDATE_COURSE, {"id": course["id"], "input": {"title": "Back"}}),
        (ADD_SECTION, {"courseId": course["id"], "title": "More"}),
    ]:
        assert (await gql(courses_url, query, variables, token=teacher.token)).code == "CONFLICT"
    # Archived courses stay readable (for those enrolled), but leave the catalog.
    assert (await gql(courses_url, COURSE, {"id": course["id"]})).ok()["course"]["status"] == (
        "ARCHIVED"
    )


async def test_drafts_are_visible_only_to_their_teacher_and_admin(
    courses_url: str, people: People
) -> None:
    teacher = people.make("TEACHER")
    draft = await create_course(courses_url, teacher)
    by_id = {"id": draft["id"]}
    assert (await gql(courses_url, COURSE, by_id, token=teacher.token)).ok()["course"]
    assert (await gql(courses_url, COURSE, by_id, token=people.admin().token)).ok()["course"]
    assert (await gql(courses_url, COURSE, by_id)).ok()["course"] is None
    other = people.make("TEACHER")
    assert (await gql(courses_url, COURSE, by_id, token=other.token)).ok()["course"] is None
    by_slug = {"slug": draft["slug"]}
    assert (await gql(courses_url, COURSE, by_slug)).ok()["course"] is None


async def test_course_needs_exactly_one_of_id_or_slug(courses_url: str) -> None:
    assert (await gql(courses_url, COURSE, {})).code == "BAD_USER_INPUT"
    both = {"id": "00000000-0000-0000-0000-000000000000", "slug": "x"}
    assert (await gql(courses_url, COURSE, both)).code == "BAD_USER_INPUT"
    assert (await gql(courses_url, COURSE, {"id": "not-a-uuid"})).ok()["course"] is None


async def test_sections_and_lectures_are_ordered_and_reorderable(
    courses_url: str, people: People
) -> None:
    teacher = people.make("TEACHER")
    course = await create_course(courses_url, teacher)
    sections = [await add_section(courses_url, teacher, course["id"], t) for t in "ABC"]
    assert [s["position"] for s in sections] == [1, 2, 3]
    lectures = [await add_lecture(courses_url, teacher, sections[0]["id"], t) for t in "xyz"]
    assert [lecture["position"] for lecture in lectures] == [1, 2, 3]
    assert lectures[0]["videoStatus"] == "NONE"
    assert lectures[0]["video"] is None

    new_order = [sections[2]["id"], sections[0]["id"], sections[1]["id"]]
    reordered = await gql(
        courses_url,
        REORDER_SECTIONS,
        {"courseId": course["id"], "ids": new_order},
        token=teacher.token,
    )
    assert [s["title"] for s in reordered.ok()["reorderSections"]] == ["C", "A", "B"]
    lecture_order = [lectures[1]["id"], lectures[2]["id"], lectures[0]["id"]]
    await gql(
        courses_url,
        REORDER_LECTURES,
        {"sectionId": sections[0]["id"], "ids": lecture_order},
        token=teacher.token,
    )

    read = (await gql(courses_url, COURSE, {"id": course["id"]}, token=teacher.token)).ok()
    tree = read["course"]["sections"]
    assert [(s["title"], s["position"]) for s in tree] == [("C", 1), ("A", 2), ("B", 3)]
    assert [lecture["title"] for lecture in tree[1]["lectures"]] == ["y", "z", "x"]
    assert [lecture["position"] for lecture in tree[1]["lectures"]] == [1, 2, 3]
    assert read["course"]["lectureCount"] == 3


async def test_reorder_must_name_every_item_once(courses_url: str, people: People) -> None:
    teacher = people.make("TEACHER")
    course = await create_course(courses_url, teacher)
    a = await add_section(courses_url, teacher, course["id"], "A")
    b = await add_section(courses_url, teacher, course["id"], "B")
    for ids in ([a["id"]], [a["id"], a["id"]], [a["id"], b["id"], "extra"]):
        result = await gql(
            courses_url,
            REORDER_SECTIONS,
            {"courseId": course["id"], "ids": ids},
            token=teacher.token,
        )
        assert result.code == "BAD_USER_INPUT"


async def test_blank_titles_are_refused(courses_url: str, people: People) -> None:
    teacher = people.make("TEACHER")
    blank = await gql(courses_url, CREATE_COURSE, {"input": {"title": "   "}}, token=teacher.token)
    assert blank.code == "BAD_USER_INPUT"
    too_long = {"input": {"title": "x" * 201}}
    assert (await gql(courses_url, CREATE_COURSE, too_long, token=teacher.token)).code == (
        "BAD_USER_INPUT"
    )


async def test_unknown_section_is_not_found(courses_url: str, people: People) -> None:
    teacher = people.make("TEACHER")
    variables = {"sectionId": "00000000-0000-0000-0000-000000000000", "input": {"title": "x"}}
    result = await gql(courses_url, ADD_LECTURE, variables, token=teacher.token)
    assert result.code == "NOT_FOUND"


async def test_admin_creates_a_course_for_a_checked_teacher(
    courses_url: str, people: People
) -> None:
    admin = people.admin()
    teacher = await people.register("TEACHER", name="Grace Hopper")
    student = await people.register("STUDENT")

    course = await create_course(courses_url, admin, "Compilers", teacherId=teacher.id)
    assert course["teacher"] == {"id": teacher.id}

    for teacher_id, message in [
        (student.id, "not a teacher"),
        ("00000000-0000-0000-0000-000000000000", "No user"),
        ("garbage", "No user"),
    ]:
        result = await gql(
            courses_url,
            CREATE_COURSE,
            {"input": {"title": "Nope", "teacherId": teacher_id}},
            token=admin.token,
        )
        assert result.code == "BAD_USER_INPUT"
        assert message in result.errors[0]["message"]


async def test_a_teacher_cannot_create_for_someone_else(courses_url: str, people: People) -> None:
    teacher = people.make("TEACHER")
    result = await gql(
        courses_url,
        CREATE_COURSE,
        {"input": {"title": "Not mine", "teacherId": people.make("TEACHER").id}},
        token=teacher.token,
    )
    assert result.code == "FORBIDDEN"


async def test_users_unreachable_is_service_unavailable(
    courses_settings: Settings,
    courses_section: CoursesSettings,
    people: People,
    clean_database: None,
) -> None:
    # Tokens still verify (the JWKS address is explicit); the account lookup cannot work.
    broken = courses_settings.model_copy(
        update={
            "users_url": "http://127.0.0.1:9",
            "jwks_url": courses_settings.resolved_jwks_url,
        }
    )
    with ServerThread(create_app(broken, courses_section)) as server:
        url = f"{server.url}/graphql"
        result = await gql(
            url,
            CREATE_COURSE,
            {"input": {"title": "Delegated", "teacherId": people.make("TEACHER").id}},
            token=people.admin().token,
        )
        assert result.code == "SERVICE_UNAVAILABLE"
        assert "users" in result.errors[0]["message"]
        # Creating for oneself needs no lookup and still works.
        own = await create_course(url, people.make("TEACHER"), "Own course")
        assert own["status"] == "DRAFT"
