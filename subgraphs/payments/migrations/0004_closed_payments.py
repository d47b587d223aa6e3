"""why payments closed a payment on its own; sandbox checkouts can be canceled (I1, I5)

Revision ID: payments_0004
Revises: payments_0003
Create Date: 2026-12-06 10:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "payments_0004"
down_revision: str | None = "payments_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REASONS = "'SUPERSEDED', 'CANCELED', 'DUPLICATE', 'SEAT_HELD', 'COURSE_FREE'"


def upgrade() -> None:
    op.add_column("payments", sa.Column("closed_reason", sa.String(length=16)), schema="payments")
    op.create_check_constraint(
        op.f("ck_payments_closed_reason"),
        "payments",
        f"closed_reason IN ({REASONS})",
        schema="payments",
    )
    op.drop_constraint(
        op.f("ck_sandbox_checkouts_status"),
        "sandbox_checkouts",
        schema="payments",
        type_="check",
    )
    op.create_check_constraint(
        op.f("ck_sandbox_checkouts_status"),
        "sandbox_checkouts",
        "status IN ('OPEN', 'SUCCEEDED', 'FAILED', 'CANCELED')",
        schema="payments",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("ck_sandbox_checkouts_status"),
        "sandbox_checkouts",
        schema="payments",
        type_="check",
    )
    op.create_check_constraint(
        op.f("ck_sandbox_checkouts_status"),
        "sandbox_checkouts",
        "status IN ('OPEN', 'SUCCEEDED', 'FAILED')",
        schema="payments",
    )
    op.drop_constraint(
        op.f("ck_payments_closed_reason"), "payments", schema="payments", type_="check"
    )
    op.drop_column("payments", "closed_reason", schema="payments")
