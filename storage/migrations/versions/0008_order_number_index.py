"""index orders by their number alone, as chat commands look them up

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 12:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_orders_channel_order_id", "orders", ["channel_order_id"])


def downgrade() -> None:
    op.drop_index("ix_orders_channel_order_id", table_name="orders")
