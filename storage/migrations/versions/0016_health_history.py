"""health history: each check's readings and the routing pause's changes, for the console's board

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 09:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "health_readings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", storage.models.UtcDateTime(), nullable=False),
        sa.Column("signal", sa.String(length=64), nullable=False),
        sa.Column("failing", sa.Boolean(), nullable=True),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_health_readings_at", "health_readings", ["at"])
    op.create_table(
        "routing_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", storage.models.UtcDateTime(), nullable=False),
        sa.Column("change", sa.String(length=8), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_routing_changes_at", "routing_changes", ["at"])


def downgrade() -> None:
    op.drop_index("ix_routing_changes_at", table_name="routing_changes")
    op.drop_table("routing_changes")
    op.drop_index("ix_health_readings_at", table_name="health_readings")
    op.drop_table("health_readings")
