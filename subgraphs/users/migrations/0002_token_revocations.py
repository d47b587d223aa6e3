"""token revocations

Revision ID: users_0002
Revises: users_0001
Create Date: 2026-12-06 10:13:48.766689
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "users_0002"
down_revision: str | None = "users_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "token_revocations",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_token_revocations")),
        schema="users",
    )
    op.create_index(
        op.f("ix_users_token_revocations_not_before"),
        "token_revocations",
        ["not_before"],
        unique=False,
        schema="users",
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_users_token_revocations_not_before"),
        table_name="token_revocations",
        schema="users",
    )
    op.drop_table("token_revocations", schema="users")
