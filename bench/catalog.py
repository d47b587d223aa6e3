"""The large catalog of the stack benchmark, generated inside PostgreSQL.

Every row comes from `INSERT … SELECT … FROM generate_series`, straight into the users
and courses schemas after their migrations ran: no round trip per row, so 100,000
courses with their curriculum and 500,000 enrollments take about a minute, not hours.
Every value is a function of the row number and the seed (md5, no random()), so the
same size and seed give the same rows on any server. The password hash is computed
once and shared by every account.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import asyncpg

# Password of every generated account (the benchmark signs students in with it).
PASSWORD = "coursegraph-bench"
SECTIONS_PER_COURSE = 2
LECTURES_PER_SECTION = 3
# Topics appear in titles and descriptions: each matches ~1 in 20 courses, a search
# term with thousands of hits at full size, as a catalog's popular searches have.
TOPICS = [
    "python",
    "rust",
    "golang",
    "kotlin",
    "swift",
    "typescript",
    "javascript",
    "haskell",
    "elixir",
    "scala",
    "kubernetes",
    "docker",
    "terraform",
    "linux",
    "postgres",
    "redis",
    "kafka",
    "graphql",
    "react",
    "svelte",
    "statistics",
    "calculus",
    "algebra",
    "geometry",
    "physics",
    "chemistry",
    "biology",
    "astronomy",
    "watercolor",
    "photography",
    "guitar",
    "piano",
    "drawing",
    "sculpture",
    "pottery",
    "cooking",
    "baking",
    "marketing",
    "accounting",
    "negotiation",
    "leadership",
    "writing",
]
LEVELS = ("for Beginners", "in Depth", "Masterclass", "Essentials", "from Scratch", "Bootcamp")
ADJECTIVES = ("Practical", "Modern", "Complete", "Applied", "Hands-on", "Advanced", "Gentle")
FIRST_NAMES = [
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Barbara",
    "Ken",
    "Margaret",
    "Dennis",
    "Frances",
    "Edsger",
    "Radia",
    "Tim",
]
LAST_NAMES = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Liskov",
    "Thompson",
    "Hamilton",
    "Ritchie",
    "Allen",
]


@dataclass(frozen=True, slots=True)
class CatalogSize:
    courses: int  # published; `courses // 50` drafts come on top
    teachers: int
    students: int
    enrollments: int  # spread evenly: enrollments // students per student
    seed: int = 18

    @property
    def per_student(self) -> int:
        return max(1, self.enrollments // self.students)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def check(self) -> None:
        if self.per_student > self.courses:
            raise ValueError("more enrollments per student than courses")


SIZES = {
    "full": CatalogSize(courses=100_000, teachers=200, students=50_000, enrollments=500_000),
    "smoke": CatalogSize(courses=2_000, teachers=20, students=500, enrollments=5_000),
}

# md5 of the seed and a label: a stable pseudo-random integer in [0, 2^28).
_FUNCTIONS = """
CREATE FUNCTION pg_temp.h(label text) RETURNS int IMMUTABLE LANGUAGE sql
    AS $$ SELECT ('x' || substr(md5(label), 1, 7))::bit(28)::int $$;
CREATE FUNCTION pg_temp.pick(words text[], label text) RETURNS text IMMUTABLE LANGUAGE sql
    AS $$ SELECT words[1 + pg_temp.h(label) % array_length(words, 1)] $$;
CREATE FUNCTION pg_temp.uid(label text) RETURNS uuid IMMUTABLE LANGUAGE sql
    AS $$ SELECT md5(label)::uuid $$;
"""

_USERS = """
INSERT INTO users.users (id, email, name, role, password_hash, created_at, updated_at)
SELECT pg_temp.uid($1 || ':' || $2 || ':' || i),
       $2 || i || '@bench.example',
       pg_temp.pick($3, $1 || ':first:' || $2 || i) || ' '
         || pg_temp.pick($4, $1 || ':last:' || $2 || i) || ' ' || i,
       upper($2), $5, timestamptz '2025-01-01' + i * interval '1 second',
       timestamptz '2025-01-01' + i * interval '1 second'
FROM generate_series(1, $6) AS i
"""

# Courses 1..n are PUBLISHED (course 1 the newest), n+1..n+n/50 DRAFT; one in five free.
_COURSES = """
INSERT INTO courses.courses (id, slug, title, description, price_amount_minor, currency,
                             status, teacher_id, created_at, updated_at, published_at)
SELECT pg_temp.uid($1 || ':course:' || i),
       'course-' || i,
       pg_temp.pick($2, $1 || ':adj:' || i) || ' ' || initcap(pg_temp.pick($3, $1 || ':t1:' || i))
         || ' ' || pg_temp.pick($4, $1 || ':lvl:' || i),
       'Learn ' || pg_temp.pick($3, $1 || ':t1:' || i) || ' with '
         || pg_temp.pick($3, $1 || ':t2:' || i) || ' through ' || (3 + i % 9)
         || ' hands-on projects, quizzes and a final exam.',
       CASE WHEN i % 5 = 0 THEN NULL ELSE 999 + 100 * (pg_temp.h($1 || ':price:' || i) % 90) END,
       CASE WHEN i % 5 = 0 THEN NULL ELSE 'USD' END,
       CASE WHEN i <= $5 THEN 'PUBLISHED' ELSE 'DRAFT' END,
       pg_temp.uid($1 || ':teacher:' || (1 + i % $6)),
       timestamptz '2026-06-01' - i * interval '1 minute',
       timestamptz '2026-06-01' - i * interval '1 minute',
       CASE WHEN i <= $5 THEN timestamptz '2026-06-01' - i * interval '1 minute' END
FROM generate_series(1, $7) AS i
"""

_SECTIONS = """
INSERT INTO courses.sections (id, course_id, title, position, created_at)
SELECT pg_temp.uid($1 || ':section:' || i || ':' || k), pg_temp.uid($1 || ':course:' || i),
       'Part ' || k, k, timestamptz '2026-06-01'
FROM generate_series(1, $2) AS i, generate_series(1, $3) AS k
"""

_LECTURES = """
INSERT INTO courses.lectures (id, section_id, course_id, title, position, is_preview,
                              duration_seconds, video_status, created_at)
SELECT pg_temp.uid($1 || ':lecture:' || i || ':' || k || ':' || l),
       pg_temp.uid($1 || ':section:' || i || ':' || k), pg_temp.uid($1 || ':course:' || i),
       'Lesson ' || k || '.' || l, l, k = 1 AND l = 1,
       60 + pg_temp.h($1 || ':duration:' || i || ':' || k || ':' || l) % 1200, 'NONE',
       timestamptz '2026-06-01'
FROM generate_series(1, $2) AS i, generate_series(1, $3) AS k, generate_series(1, $4) AS l
"""

# Student j's k-th seat: course (j * 7919 + k * stride) mod n, distinct for k < per
# student since stride * per <= n. Every tenth student completed their first course.
_ENROLLMENTS = """
INSERT INTO courses.enrollments (id, user_id, course_id, status, progress_percentage,
                                 total_watch_time, enrolled_at, completed_at)
SELECT pg_temp.uid($1 || ':enrollment:' || j || ':' || k),
       pg_temp.uid($1 || ':student:' || j),
       pg_temp.uid($1 || ':course:' || (1 + (j * 7919 + k * ($2 / $3)) % $2)),
       CASE WHEN k = 0 AND j % 10 = 0 THEN 'COMPLETED' ELSE 'ACTIVE' END,
       CASE WHEN k = 0 AND j % 10 = 0 THEN 100
            ELSE pg_temp.h($1 || ':p:' || j || ':' || k) % 90 END,
       pg_temp.h($1 || ':w:' || j || ':' || k) % 20000,
       timestamptz '2026-07-01' + (j * $3 + k) * interval '1 second',
       CASE WHEN k = 0 AND j % 10 = 0 THEN timestamptz '2026-08-01' END
FROM generate_series(1, $4) AS j, generate_series(0, $3 - 1) AS k
"""

MARKER_TABLE = "public.bench_catalog"


async def generated_size(connection: asyncpg.Connection) -> dict[str, int] | None:
    """The size this database was generated with, or None when it holds no catalog."""
    exists = await connection.fetchval("SELECT to_regclass($1) IS NOT NULL", MARKER_TABLE)
    if not exists:
        return None
    row = await connection.fetchrow(f"SELECT size FROM {MARKER_TABLE}")
    return None if row is None else dict(json.loads(row["size"]))


async def generate(connection: asyncpg.Connection, size: CatalogSize, password_hash: str) -> None:
    """Fill the migrated, empty users and courses schemas; then VACUUM ANALYZE them."""
    size.check()
    seed = str(size.seed)
    drafts = size.courses // 50
    all_courses = size.courses + drafts
    steps: list[tuple[str, str, tuple[object, ...]]] = [
        (
            "teachers",
            _USERS,
            (seed, "teacher", FIRST_NAMES, LAST_NAMES, password_hash, size.teachers),
        ),
        (
            "students",
            _USERS,
            (seed, "student", FIRST_NAMES, LAST_NAMES, password_hash, size.students),
        ),
        (
            "courses",
            _COURSES,
            (seed, ADJECTIVES, TOPICS, LEVELS, size.courses, size.teachers, all_courses),
        ),
        ("sections", _SECTIONS, (seed, all_courses, SECTIONS_PER_COURSE)),
        (
            "lectures",
            _LECTURES,
            (seed, all_courses, SECTIONS_PER_COURSE, LECTURES_PER_SECTION),
        ),
        (
            "enrollments",
            _ENROLLMENTS,
            (seed, size.courses, size.per_student, size.students),
        ),
    ]
    async with connection.transaction():
        await connection.execute(_FUNCTIONS)
        for name, sql, args in steps:
            started = time.monotonic()
            status = await connection.execute(sql, *args)
            print(f"[stack] {name}: {status.split()[-1]} rows in {time.monotonic() - started:.1f}s")
        await connection.execute(f"CREATE TABLE {MARKER_TABLE} (size jsonb NOT NULL)")
        await connection.execute(
            f"INSERT INTO {MARKER_TABLE} VALUES ($1::jsonb)", json.dumps(size.as_dict())
        )
    started = time.monotonic()
    # Fresh statistics and visibility maps, as a catalog that has lived a while has.
    await connection.execute("VACUUM ANALYZE")
    print(f"[stack] VACUUM ANALYZE in {time.monotonic() - started:.1f}s")
