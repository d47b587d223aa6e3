"""event contract versions in the outbox; who asked for each upload

Revision ID: files_0002
Revises: files_0001
Create Date: 2026-12-06 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "files_0002"
down_revision: str | None = "files_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "outbox",
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        schema="files",
    )
    # The account that asked for the upload: video events name the teacher to tell.
    op.add_column(
        "files", sa.Column("uploaded_by", sa.String(length=64), nullable=True), schema="files"
    )


def downgrade() -> None:
    op.drop_column("files", "uploaded_by", schema="files")
    op.drop_column("outbox", "version", schema="files")
