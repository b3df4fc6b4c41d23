"""ticket reminders and snooze

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 11:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("reminded_at", storage.models.UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("snoozed_until", storage.models.UtcDateTime(), nullable=True))
        batch.create_index("ix_tickets_status_group", ["status", "group_key"])
        batch.create_index("ix_tickets_owner_status", ["owner", "status"])


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_index("ix_tickets_owner_status")
        batch.drop_index("ix_tickets_status_group")
        batch.drop_column("snoozed_until")
        batch.drop_column("reminded_at")
