"""one live refund per payment: a refund the provider refused leaves room for another

Revision ID: payments_0002
Revises: payments_0001
Create Date: 2026-12-06 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "payments_0002"
down_revision: str | None = "payments_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint("uq_refunds_payment_id", "refunds", schema="payments", type_="unique")
    op.create_index(
        "uq_refunds_one_live",
        "refunds",
        ["payment_id"],
        unique=True,
        schema="payments",
        postgresql_where=sa.text("status <> 'FAILED'"),
    )


def downgrade() -> None:
    op.drop_index("uq_refunds_one_live", table_name="refunds", schema="payments")
    op.create_unique_constraint(
        "uq_refunds_payment_id", "refunds", ["payment_id"], schema="payments"
    )
