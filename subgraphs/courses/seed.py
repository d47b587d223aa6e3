"""Demo data for development: teachers, students and ~30 courses, free and paid.

Runs through the same service methods as the API, so demo data obeys every rule real
data does. Idempotent: a course whose slug exists is left alone, and accounts come from
an `Accounts` source that returns existing accounts. Courses does not know how accounts
are made; the `coursegraph seed` command (the composition root) supplies that.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from coursegraph.identity import Role, Viewer
from subgraphs.courses.bootstrap import CoursesContainer
from subgraphs.courses.service import PriceInput, slugify


class Accounts(Protocol):
    async def ensure(self, email: str, name: str, role: str) -> str:
        """The id of the account with this email, created with `name` and `role` if new."""
        ...


@dataclass(frozen=True, slots=True)
class DemoCourse:
    title: str
    description: str
    price: tuple[str, str] | None  # (amount, currency); None: free
    sections: tuple[str, ...]
    published: bool = True


@dataclass(frozen=True, slots=True)
class SeedSummary:
    teachers: int
    students: int
    courses_created: int
    courses_existing: int


TEACHERS = (
    ("ada.teacher@example.com", "Ada Lovelace"),
    ("alan.teacher@example.com", "Alan Turing"),
    ("grace.teacher@example.com", "Grace Hopper"),
    ("edsger.teacher@example.com", "Edsger Dijkstra"),
)
STUDENTS = (
    ("sam.student@example.com", "Sam Student"),
    ("kim.student@example.com", "Kim Student"),
    ("lee.student@example.com", "Lee Student"),
    ("ana.student@example.com", "Ana Student"),
    ("raj.student@example.com", "Raj Student"),
    ("yuki.student@example.com", "Yuki Student"),
)

_BASICS = ("Getting started", "Core ideas", "Putting it together")
_PROJECT = ("Setup", "Building the project", "Testing and shipping")
_DEEP = ("Foundations", "Techniques", "Case studies", "Next steps")


def _course(
    title: str,
    description: str,
    price: tuple[str, str] | None = None,
    sections: tuple[str, ...] = _BASICS,
    published: bool = True,
) -> DemoCourse:
    return DemoCourse(title, description, price, sections, published)


COURSES: tuple[DemoCourse, ...] = (
    _course("Python for Absolute Beginners", "Variables, loops and functions from zero."),
    _course("Practical SQL", "Query, join and index real PostgreSQL data.", ("29.00", "USD")),
    _course(
        "GraphQL Federation in Practice", "Entities, keys and query plans.", ("49.99", "USD"), _DEEP
    ),
    _course("Async Python", "asyncio, tasks and structured concurrency.", ("39.00", "EUR"), _DEEP),
    _course("Data Structures Refresher", "Lists, trees, heaps and hash maps."),
    _course("Algorithms on Graphs", "Search, shortest paths and flows.", ("35.00", "GBP"), _DEEP),
    _course("Web Security Basics", "XSS, CSRF, injection and how to stop them."),
    _course(
        "Designing REST and GraphQL APIs", "Resources, errors and pagination.", ("45.00", "USD")
    ),
    _course("Testing with pytest", "Fixtures, parametrisation and real databases.", None, _PROJECT),
    _course(
        "Docker from Scratch", "Images, containers and compose files.", ("19.99", "USD"), _PROJECT
    ),
    _course("Linux Command Line", "Shells, pipes, permissions and processes."),
    _course("Git Beyond the Basics", "Rebase, bisect and a clean history.", ("15.00", "EUR")),
    _course(
        "Machine Learning Foundations",
        "Regression, classification, evaluation.",
        ("2999", "INR"),
        _DEEP,
    ),
    _course("Statistics for Developers", "Distributions, tests and intervals."),
    _course(
        "Rust for Python Programmers", "Ownership, borrowing and traits.", ("59.00", "USD"), _DEEP
    ),
    _course("TypeScript Essentials", "Types that catch bugs before users do.", ("25.00", "USD")),
    _course("Functional Programming Ideas", "Pure functions, folds and immutability."),
    _course(
        "Distributed Systems Primer", "Clocks, consensus and failure.", ("69.00", "USD"), _DEEP
    ),
    _course("Japanese for Travellers", "Greetings, directions and ordering food.", ("4800", "JPY")),
    _course("Korean Alphabet in a Weekend", "Read Hangul with confidence.", ("15000", "KRW")),
    _course("Public Speaking", "Structure a talk and deliver it calmly."),
    _course("Technical Writing", "Docs people read: tutorials, how-tos, reference."),
    _course("Product Thinking for Engineers", "Users, metrics and trade-offs.", ("30.00", "GBP")),
    _course(
        "Intro to Cryptography",
        "Hashes, MACs, signatures and key exchange.",
        ("40.00", "EUR"),
        _DEEP,
    ),
    _course("Photography Basics", "Exposure, composition and light."),
    _course("Music Theory 101", "Scales, chords and rhythm.", ("12.00", "USD")),
    _course("Personal Finance", "Budgets, saving and compound interest."),
    _course("Kubernetes Hands-On", "Pods, deployments and services.", ("79.00", "USD"), _PROJECT),
    _course(
        "Draft: Advanced PostgreSQL",
        "Planner, MVCC and partitioning.",
        ("89.00", "USD"),
        _DEEP,
        published=False,
    ),
    _course(
        "Draft: Compilers", "Lexing, parsing and code generation.", None, _DEEP, published=False
    ),
)
LECTURES_PER_SECTION = 3


async def seed_demo(container: CoursesContainer, accounts: Accounts) -> SeedSummary:
    teachers = [await accounts.ensure(e, n, Role.TEACHER) for e, n in TEACHERS]
    students = [await accounts.ensure(e, n, Role.STUDENT) for e, n in STUDENTS]
    created = existing = 0
    for index, demo in enumerate(COURSES):
        if await container.courses.get_by_slug(slugify(demo.title)) is not None:
            existing += 1
            continue
        teacher = Viewer(id=teachers[index % len(teachers)], role=Role.TEACHER)
        await _create(container, teacher, demo, students, index)
        created += 1
    return SeedSummary(len(teachers), len(students), created, existing)


async def _create(
    container: CoursesContainer,
    teacher: Viewer,
    demo: DemoCourse,
    students: list[str],
    index: int,
) -> None:
    courses = container.courses
    price = PriceInput(Decimal(demo.price[0]), demo.price[1]) if demo.price else None
    course = await courses.create_course(teacher, demo.title, demo.description, price)
    course_id = str(course.id)
    for s, section_title in enumerate(demo.sections):
        section = await courses.add_section(teacher, course_id, section_title)
        for n in range(1, LECTURES_PER_SECTION + 1):
            await courses.add_lecture(
                teacher, str(section.id), f"{section_title}: part {n}", is_preview=s == 0 and n == 1
            )
    if not demo.published:
        return
    await courses.publish_course(teacher, course_id)
    if demo.price is not None:
        return  # paid seats come from payments
    # A few students in each free course, at different stages.
    for offset, progress in enumerate((100.0, 60.0, 10.0)):
        student = Viewer(id=students[(index + offset) % len(students)], role=Role.STUDENT)
        await container.enrollments.enroll(student, course_id, None)
        await container.enrollments.update_progress(
            student, course_id, progress, int(progress) * 36
        )
