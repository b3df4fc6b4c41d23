"""inbound callback messages

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 10:31:24.098956
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("msg_id", sa.String(length=128), nullable=False),
        sa.Column("received_at", storage.models.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "msg_id"),
    )


def downgrade() -> None:
    op.drop_table("inbound_messages")
