"""course counts kept by a trigger, for a totalCount that reads one row

Revision ID: courses_0004
Revises: courses_0003
Create Date: 2026-12-06 13:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "courses_0004"
down_revision: str | None = "courses_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The counts change in the same statement as the course row, whatever writes it. The
# two keys of an update are applied in key order, so two transactions moving courses in
# opposite directions lock the count rows in the same order (no deadlock). A decrement
# is an UPDATE: an INSERT of a negative count would fail the CHECK before ON CONFLICT.
COUNT_FUNCTION = """
CREATE FUNCTION courses.count_courses() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    change record;
BEGIN
    IF TG_OP = 'UPDATE'
       AND NEW.status = OLD.status
       AND (NEW.price_amount_minor IS NULL) = (OLD.price_amount_minor IS NULL) THEN
        RETURN NULL;
    END IF;
    FOR change IN
        SELECT status, is_free, delta FROM (
            SELECT OLD.status, OLD.price_amount_minor IS NULL, -1 WHERE TG_OP <> 'INSERT'
            UNION ALL
            SELECT NEW.status, NEW.price_amount_minor IS NULL, 1 WHERE TG_OP <> 'DELETE'
        ) AS changes (status, is_free, delta)
        ORDER BY status, is_free
    LOOP
        IF change.delta < 0 THEN
            UPDATE courses.course_counts SET courses = courses - 1
            WHERE status = change.status AND is_free = change.is_free;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'course_counts has no row for (%, %)',
                    change.status, change.is_free;
            END IF;
        ELSE
            INSERT INTO courses.course_counts AS c (status, is_free, courses)
            VALUES (change.status, change.is_free, 1)
            ON CONFLICT (status, is_free) DO UPDATE SET courses = c.courses + 1;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$
"""

# TRUNCATE fires no row triggers.
CLEAR_FUNCTION = """
CREATE FUNCTION courses.clear_course_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM courses.course_counts;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "course_counts",
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("is_free", sa.Boolean(), nullable=False),
        sa.Column("courses", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("courses >= 0", name=op.f("ck_course_counts_not_negative")),
        sa.PrimaryKeyConstraint("status", "is_free", name=op.f("pk_course_counts")),
        schema="courses",
    )
    op.execute(COUNT_FUNCTION)
    op.execute(CLEAR_FUNCTION)
    # No write may fall between the first count and the trigger that keeps it.
    op.execute("LOCK TABLE courses.courses IN SHARE ROW EXCLUSIVE MODE")
    op.execute(
        "CREATE TRIGGER count_courses AFTER INSERT OR DELETE OR UPDATE OF status,"
        " price_amount_minor ON courses.courses"
        " FOR EACH ROW EXECUTE FUNCTION courses.count_courses()"
    )
    op.execute(
        "CREATE TRIGGER clear_course_counts AFTER TRUNCATE ON courses.courses"
        " FOR EACH STATEMENT EXECUTE FUNCTION courses.clear_course_counts()"
    )
    op.execute(
        "INSERT INTO courses.course_counts (status, is_free, courses)"
        " SELECT status, price_amount_minor IS NULL, count(*) FROM courses.courses"
        " GROUP BY 1, 2"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER clear_course_counts ON courses.courses")
    op.execute("DROP TRIGGER count_courses ON courses.courses")
    op.execute("DROP FUNCTION courses.clear_course_counts()")
    op.execute("DROP FUNCTION courses.count_courses()")
    op.drop_table("course_counts", schema="courses")
