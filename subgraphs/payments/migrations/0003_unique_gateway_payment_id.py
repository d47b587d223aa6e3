"""a provider's charge id belongs to one payment (I6)

Revision ID: payments_0003
Revises: payments_0002
Create Date: 2026-12-06 10:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "payments_0003"
down_revision: str | None = "payments_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "uq_payments_gateway_payment_id",
        "payments",
        ["provider", "gateway_payment_id"],
        unique=True,
        schema="payments",
        postgresql_where=sa.text("gateway_payment_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_payments_gateway_payment_id", table_name="payments", schema="payments")
