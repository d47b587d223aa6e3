-- The API schema PostGraphile 5 serves in bench/stack.py (docs/benchmarks.md, "Reference
-- row: PostGraphile 5"): views over the courses and users subgraphs' own tables, read by
-- a role that can read nothing else. What a team would write in a migration of its own;
-- here bench/stack.py applies it to the benchmark's cluster before PostGraphile starts.
-- Smart tags (the comments) give the views their keys and relations, since a view has
-- no constraints (and courses.teacher_id has no foreign key across the two schemas).
DROP SCHEMA IF EXISTS pgl CASCADE;
CREATE SCHEMA pgl;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgl_visitor') THEN
        CREATE ROLE pgl_visitor LOGIN;
    END IF;
END
$$;

-- Coursegraph's Money: the amount in major units of the currency.
CREATE TYPE pgl.money AS (amount numeric, currency text);

-- Published courses only: a draft does not exist for a visitor. The two counts are
-- subqueries in the select list; PostgreSQL computes them only for the rows a query
-- returns and only when it asks for them (the view is flattened into the query).
CREATE VIEW pgl.courses AS
SELECT c.id,
       c.slug,
       c.title,
       c.description,
       c.status,
       c.price_amount_minor IS NULL AS is_free,
       -- Two-decimal currencies only: every generated price is in USD.
       CASE WHEN c.price_amount_minor IS NOT NULL
            THEN ROW(round(c.price_amount_minor::numeric / 100, 2), c.currency)::pgl.money
       END AS price,
       c.published_at,
       c.created_at,
       c.teacher_id,
       (SELECT count(*)::int FROM courses.lectures l WHERE l.course_id = c.id) AS lecture_count,
       (SELECT count(*)::int FROM courses.enrollments e
         WHERE e.course_id = c.id AND e.status IN ('ACTIVE', 'COMPLETED')) AS enrollment_count
FROM courses.courses c
WHERE c.status = 'PUBLISHED';

-- Only the name of a user who teaches a published course.
CREATE VIEW pgl.teachers AS
SELECT u.id, u.name
FROM users.users u
WHERE EXISTS (SELECT 1 FROM courses.courses c
              WHERE c.teacher_id = u.id AND c.status = 'PUBLISHED');

CREATE VIEW pgl.sections AS
SELECT s.id, s.course_id, s.title, s.position
FROM courses.sections s
JOIN courses.courses c ON c.id = s.course_id AND c.status = 'PUBLISHED';

CREATE VIEW pgl.lectures AS
SELECT l.id, l.section_id, l.title, l.position, l.is_preview, l.duration_seconds, l.video_status
FROM courses.lectures l
JOIN courses.courses c ON c.id = l.course_id AND c.status = 'PUBLISHED';

-- The catalog lists courses as a connection; sections and lectures are plain lists
-- under their course (the course page's shape); no other root collection.
COMMENT ON VIEW pgl.courses IS E'@primaryKey id\n@unique slug\n@foreignKey (teacher_id) references pgl.teachers (id)|@fieldName teacher\n@behavior -manyRelation:resource:connection';
COMMENT ON VIEW pgl.teachers IS E'@primaryKey id\n@behavior -connection -list';
COMMENT ON VIEW pgl.sections IS E'@primaryKey id\n@foreignKey (course_id) references pgl.courses (id)|@fieldName course|@foreignFieldName sections\n@behavior +list -connection -query:resource:list';
COMMENT ON VIEW pgl.lectures IS E'@primaryKey id\n@foreignKey (section_id) references pgl.sections (id)|@fieldName section|@foreignFieldName lectures\n@behavior +list -connection -query:resource:list';
-- Only what an index serves may order or filter the catalog (no full scans on demand).
COMMENT ON COLUMN pgl.courses.title IS '@behavior -orderBy -filterBy';
COMMENT ON COLUMN pgl.courses.description IS '@behavior -orderBy -filterBy';
COMMENT ON COLUMN pgl.courses.status IS '@behavior -orderBy -filterBy';
COMMENT ON COLUMN pgl.courses.published_at IS '@behavior -orderBy -filterBy';
COMMENT ON COLUMN pgl.courses.lecture_count IS '@behavior -orderBy -filterBy';
COMMENT ON COLUMN pgl.courses.enrollment_count IS '@behavior -orderBy -filterBy';
COMMENT ON COLUMN pgl.courses.slug IS '@behavior -orderBy';

GRANT USAGE ON SCHEMA pgl TO pgl_visitor;
GRANT SELECT ON ALL TABLES IN SCHEMA pgl TO pgl_visitor;
