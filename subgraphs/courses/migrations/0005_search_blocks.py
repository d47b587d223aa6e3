"""search walks the catalog newest-first by time blocks, not through every match

Revision ID: courses_0005
Revises: courses_0004
Create Date: 2026-12-07 05:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "courses_0005"
down_revision: str | None = "courses_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A course's time blocks: for each level k in 0..9, the aligned block of 4**k hours (UTC,
# since the epoch) its created_at falls in, as (k << 40) | (hour >> 2k). The GIN index on
# (search, search_blocks) then answers "the matches created in this block" by intersecting
# two posting lists, without visiting the heap rows of every other match.
BLOCKS_FUNCTION = """
CREATE FUNCTION courses.search_blocks(created_at timestamptz) RETURNS bigint[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_agg(
        (k::bigint << 40)
        | (floor(extract(epoch FROM created_at AT TIME ZONE 'UTC') / 3600)::bigint >> (2 * k))
        ORDER BY k)
    FROM generate_series(0, 9) AS k
$$
"""

# The `bound` newest matches (created_at, id descending) of `query` among the courses with
# one of `statuses` (of `teacher`, free only: when given). From the newest course's hour
# back, each step reads one aligned block, at most one level larger than the last (a
# level's block ends where the next level's may start after at most three steps), newest
# matches first, until `bound` rows are out or the oldest course is passed. Blocks do not
# overlap and each is older than the last, so the rows are exactly those a sort of every
# match would give; a common term reads a few blocks' matches, a rare one a few dozen
# small index scans.
MATCHES_FUNCTION = """
CREATE FUNCTION courses.search_matches(
    query tsquery, statuses text[], teacher uuid, free_only boolean, bound integer
) RETURNS TABLE (id uuid, created_at timestamptz, search tsvector)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    newest timestamptz;
    oldest timestamptz;
    hour bigint;
    last_hour bigint;
    level integer := 0;
    wanted integer := bound;
    taken integer;
BEGIN
    -- ix_courses_status_created gives each status's newest and oldest course.
    SELECT max(m.newest), min(m.oldest) INTO newest, oldest
    FROM unnest(statuses) AS s (status),
         LATERAL (SELECT max(c.created_at), min(c.created_at) FROM courses.courses AS c
                  WHERE c.status = s.status) AS m (newest, oldest);
    hour := floor(extract(epoch FROM newest AT TIME ZONE 'UTC') / 3600)::bigint;
    last_hour := floor(extract(epoch FROM oldest AT TIME ZONE 'UTC') / 3600)::bigint;
    WHILE wanted > 0 AND hour >= last_hour LOOP
        level := least(level + 1, 9);
        WHILE level > 0 AND (hour + 1) % (1::bigint << (2 * level)) <> 0 LOOP
            level := level - 1;
        END LOOP;
        RETURN QUERY
            SELECT c.id, c.created_at, c.search FROM courses.courses AS c
            WHERE c.search @@ query
              AND c.search_blocks @> ARRAY[(level::bigint << 40) | (hour >> (2 * level))]
              AND c.status = ANY (statuses)
              AND (teacher IS NULL OR c.teacher_id = teacher)
              AND (NOT free_only OR c.price_amount_minor IS NULL)
            ORDER BY c.created_at DESC, c.id DESC
            LIMIT wanted;
        GET DIAGNOSTICS taken = ROW_COUNT;
        wanted := wanted - taken;
        hour := ((hour >> (2 * level)) << (2 * level)) - 1;
    END LOOP;
END
$$
"""


def upgrade() -> None:
    op.execute(BLOCKS_FUNCTION)
    op.add_column(
        "courses",
        sa.Column(
            "search_blocks",
            postgresql.ARRAY(sa.BigInteger()),
            sa.Computed("courses.search_blocks(created_at)", persisted=True),
            nullable=False,
        ),
        schema="courses",
    )
    op.drop_index("ix_courses_search", table_name="courses", schema="courses")
    op.create_index(
        "ix_courses_search",
        "courses",
        ["search", "search_blocks"],
        schema="courses",
        postgresql_using="gin",
    )
    op.execute(MATCHES_FUNCTION)


def downgrade() -> None:
    op.execute("DROP FUNCTION courses.search_matches(tsquery, text[], uuid, boolean, integer)")
    op.drop_index("ix_courses_search", table_name="courses", schema="courses")
    op.drop_column("courses", "search_blocks", schema="courses")
    op.execute("DROP FUNCTION courses.search_blocks(timestamptz)")
    op.create_index(
        "ix_courses_search", "courses", ["search"], schema="courses", postgresql_using="gin"
    )
