"""refund freeze on enrollments, revocation of certificates

Revision ID: courses_0002
Revises: courses_0001
Create Date: 2026-12-06 10:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "courses_0002"
down_revision: str | None = "courses_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "enrollments",
        sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=True),
        schema="courses",
    )
    op.add_column(
        "certificates",
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        schema="courses",
    )


def downgrade() -> None:
    op.drop_column("certificates", "revoked_at", schema="courses")
    op.drop_column("enrollments", "frozen_at", schema="courses")
