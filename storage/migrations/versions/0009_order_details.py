"""order details: items, payments, waybills, the platform's ship-by and what people wrote

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _details_table(name: str, *columns: sa.Column[Any], indexed: str | None = None) -> None:
    op.create_table(
        name,
        sa.Column("id", _ID, nullable=False),
        sa.Column("order_id", _ID, nullable=False),
        *columns,
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(f"ix_{name}_order_id", name, ["order_id"])
    if indexed is not None:
        op.create_index(f"ix_{name}_{indexed}", name, [indexed])


def upgrade() -> None:
    # Orders stored before this revision keep working: every new column is nullable or
    # defaults to an empty value.
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("ship_by_at", storage.models.UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("shipped_at", storage.models.UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("hold_reason", sa.String(length=512), nullable=True))
        batch.add_column(sa.Column("buyer_message", sa.String(length=1000), nullable=True))
        batch.add_column(sa.Column("seller_memo", sa.String(length=1000), nullable=True))
        batch.add_column(sa.Column("receiver_phone_masked", sa.String(length=32), nullable=True))
        batch.add_column(
            sa.Column("buyer_handles", sa.JSON(), server_default=sa.text("'{}'"), nullable=False)
        )
        batch.add_column(
            sa.Column("categories", sa.JSON(), server_default=sa.text("'[]'"), nullable=False)
        )
    _details_table(
        "order_items",
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=256), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("category_id", sa.String(length=64), nullable=True),
        sa.Column("refund_status", sa.String(length=64), nullable=True),
    )
    _details_table(
        "order_payments",
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("paid_at", storage.models.UtcDateTime(), nullable=True),
        sa.Column("method", sa.String(length=32), nullable=True),
        indexed="serial",
    )
    _details_table(
        "order_waybills",
        sa.Column("tracking_no", sa.String(length=64), nullable=False),
        sa.Column("carrier", sa.String(length=64), nullable=True),
        sa.Column("shipped_at", storage.models.UtcDateTime(), nullable=True),
        indexed="tracking_no",
    )


def downgrade() -> None:
    for name in ("order_waybills", "order_payments", "order_items"):
        op.drop_table(name)
    with op.batch_alter_table("orders") as batch:
        for column in (
            "categories",
            "buyer_handles",
            "receiver_phone_masked",
            "seller_memo",
            "buyer_message",
            "hold_reason",
            "shipped_at",
            "ship_by_at",
        ):
            batch.drop_column(column)
