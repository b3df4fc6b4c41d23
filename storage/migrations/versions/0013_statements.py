"""payment statements imported from the gateways' bills, and their lines

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_UTC = storage.models.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "statements",
        sa.Column("id", _ID, nullable=False),
        sa.Column("gateway", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("layout", sa.String(length=32), nullable=False),
        sa.Column("bill_date", sa.Date(), nullable=False),
        sa.Column("merchant_id", sa.String(length=255), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("payment_count", sa.Integer(), nullable=False),
        sa.Column("refund_count", sa.Integer(), nullable=False),
        sa.Column("payment_fen", sa.BigInteger(), nullable=False),
        sa.Column("refund_fen", sa.BigInteger(), nullable=False),
        sa.Column("fee_milli", sa.BigInteger(), nullable=False),
        sa.Column("imported_at", _UTC(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("digest", name="uq_statements_digest"),
        sa.UniqueConstraint(
            "gateway", "kind", "merchant_id", "bill_date", name="uq_statements_day"
        ),
    )
    op.create_table(
        "statement_lines",
        sa.Column("id", _ID, nullable=False),
        sa.Column("statement_id", _ID, nullable=False),
        sa.Column("gateway", sa.String(length=16), nullable=False),
        sa.Column("bill_date", sa.Date(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("trade_at", _UTC(), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("merchant_order_no", sa.String(length=64), nullable=True),
        sa.Column("gateway_trade_no", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("order_fen", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("coupon_fen", sa.BigInteger(), nullable=False),
        sa.Column("refund_fen", sa.BigInteger(), nullable=False),
        sa.Column("refund_no", sa.String(length=64), nullable=True),
        sa.Column("gateway_refund_no", sa.String(length=64), nullable=True),
        sa.Column("fee_milli", sa.BigInteger(), nullable=False),
        sa.Column("fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("attach", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["statement_id"], ["statements.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_statement_lines_statement_id", "statement_lines", ["statement_id"])
    op.create_index(
        "ix_statement_lines_order_no", "statement_lines", ["gateway", "merchant_order_no"]
    )


def downgrade() -> None:
    op.drop_index("ix_statement_lines_order_no", table_name="statement_lines")
    op.drop_index("ix_statement_lines_statement_id", table_name="statement_lines")
    op.drop_table("statement_lines")
    op.drop_table("statements")
