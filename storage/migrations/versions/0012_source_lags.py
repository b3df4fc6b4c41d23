"""how fresh each source is: per-minute lag counts by source, stage and lag bucket

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 06:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "source_lag_counts",
        sa.Column("minute", storage.models.UtcDateTime(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("bucket", sa.SmallInteger(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("minute", "source", "stage", "bucket"),
    )


def downgrade() -> None:
    op.drop_table("source_lag_counts")
