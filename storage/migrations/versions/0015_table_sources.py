"""table sources: the polling lease, cursor marks and rejected rows

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 06:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "table_source_leases",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("until", storage.models.UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("source"),
    )
    op.create_table(
        "table_source_marks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("marked_at", storage.models.UtcDateTime(), nullable=False),
        sa.Column("cursor_time", sa.String(length=40), nullable=True),
        sa.Column("cursor_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_table_source_marks_source", "table_source_marks", ["source", "marked_at"])
    op.create_table(
        "table_source_rejections",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("row_id", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("rejected_at", storage.models.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", "row_id"),
    )


def downgrade() -> None:
    op.drop_table("table_source_rejections")
    op.drop_index("ix_table_source_marks_source", table_name="table_source_marks")
    op.drop_table("table_source_marks")
    op.drop_table("table_source_leases")
