"""the outbox records each event's contract version

Revision ID: payments_0005
Revises: payments_0004
Create Date: 2026-12-06 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "payments_0005"
down_revision: str | None = "payments_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "outbox",
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        schema="payments",
    )


def downgrade() -> None:
    op.drop_column("outbox", "version", schema="payments")
