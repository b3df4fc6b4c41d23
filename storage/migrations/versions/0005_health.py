"""health guard: ingest counts, job heartbeats, signal states, routing pause

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 11:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_tickets_opened_at", "tickets", ["opened_at"])
    op.create_table(
        "ingest_counts",
        sa.Column("minute", storage.models.UtcDateTime(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("address_parsed", sa.Integer(), nullable=False),
        sa.Column("address_failed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("minute", "channel"),
    )
    op.create_table(
        "job_heartbeats",
        sa.Column("job", sa.String(length=32), nullable=False),
        sa.Column("instance", sa.String(length=64), nullable=False),
        sa.Column("succeeded_at", storage.models.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("job"),
    )
    op.create_table(
        "health_state",
        sa.Column("signal", sa.String(length=64), nullable=False),
        sa.Column("failing", sa.Boolean(), nullable=False),
        sa.Column("since", storage.models.UtcDateTime(), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("signal"),
    )
    op.create_table(
        "routing_pause",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column("since", storage.models.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("routing_pause")
    op.drop_table("health_state")
    op.drop_table("job_heartbeats")
    op.drop_table("ingest_counts")
    op.drop_index("ix_tickets_opened_at", table_name="tickets")
