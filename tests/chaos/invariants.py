"""The money invariants after a run, asked two ways: independent SQL over the payments
and courses schemas of a stack's database, and the reconciler's own `--check`."""

from __future__ import annotations

import subprocess

import asyncpg

from tests.e2e.stack import Service

# Independent of the reconciler: SQL over both schemas of the stack's database.
LIVE_REFUND = (
    "EXISTS (SELECT 1 FROM payments.refunds r WHERE r.payment_id = p.id AND r.status <> 'FAILED')"
)
SEAT = "e.payment_id = p.id::text AND e.status IN ('ACTIVE', 'COMPLETED')"
ORACLE = {
    "kept charge without exactly one seat": f"""
        SELECT p.id FROM payments.payments p WHERE p.status = 'SUCCEEDED' AND NOT {LIVE_REFUND}
        AND (SELECT count(*) FROM courses.enrollments e WHERE {SEAT}) <> 1""",
    "refunded payment with a seat or a valid certificate": f"""
        SELECT p.id FROM payments.payments p WHERE (p.status IN ('REFUNDED', 'PARTIALLY_REFUNDED')
        OR {LIVE_REFUND}) AND (EXISTS (SELECT 1 FROM courses.enrollments e WHERE {SEAT})
        OR EXISTS (SELECT 1 FROM courses.enrollments e JOIN courses.certificates c
                   ON c.enrollment_id = e.id
                   WHERE e.payment_id = p.id::text AND c.revoked_at IS NULL))""",
    "two kept charges for one seat": f"""
        SELECT p.user_id FROM payments.payments p WHERE p.status = 'SUCCEEDED'
        AND NOT {LIVE_REFUND} GROUP BY p.user_id, p.course_id HAVING count(*) > 1""",
    "paid seat whose charge is not kept": f"""
        SELECT e.id FROM courses.enrollments e WHERE e.payment_id IS NOT NULL
        AND e.status IN ('ACTIVE', 'COMPLETED') AND NOT EXISTS (
          SELECT 1 FROM payments.payments p WHERE p.id::text = e.payment_id
          AND p.status = 'SUCCEEDED' AND NOT {LIVE_REFUND})""",
    "two current seats for one student and course": """
        SELECT user_id FROM courses.enrollments WHERE status IN ('ACTIVE', 'COMPLETED')
        GROUP BY user_id, course_id HAVING count(*) > 1""",
    "seat left frozen": "SELECT id FROM courses.enrollments WHERE frozen_at IS NOT NULL",
    "refund left pending": "SELECT id FROM payments.refunds WHERE status = 'PENDING'",
    "undelivered effect": """SELECT id FROM payments.outbox WHERE delivered_at IS NULL
        UNION ALL SELECT id FROM courses.outbox WHERE delivered_at IS NULL""",
}


async def violations(database_url: str) -> dict[str, list[str]]:
    """Each ORACLE query that finds rows, with their ids."""
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        found = {}
        for name, query in ORACLE.items():
            rows = await connection.fetch(query)
            if rows:
                found[name] = [str(row[0]) for row in rows]
        return found
    finally:
        await connection.close()


def reconcile_check(payments: Service) -> subprocess.CompletedProcess[str]:
    """`coursegraph payments reconcile --check` with the payments process's environment."""
    return payments.cli("payments", "reconcile", "--check", "--grace-seconds", "0")
