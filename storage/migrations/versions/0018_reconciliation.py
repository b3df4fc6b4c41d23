"""reconciliation: vouchers on payments, refunds, runs and differences; orderless payment tickets

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 10:00:00.000000
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_UTC = storage.models.UtcDateTime
_CHILDREN = ("ticket_events", "outbox")  # the tables whose rows point at tickets


def upgrade() -> None:
    with op.batch_alter_table("order_payments") as batch:
        batch.add_column(
            sa.Column("voucher_fen", sa.BigInteger(), nullable=False, server_default="0")
        )
    with _tickets_rebuilt(), op.batch_alter_table("tickets") as batch:
        batch.alter_column("order_id", existing_type=_ID, nullable=True)
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("attachment_name", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("attachment", sa.LargeBinary(), nullable=True))
    op.create_index("ix_order_payments_method_paid_at", "order_payments", ["method", "paid_at"])
    op.create_index(
        "ix_statement_lines_trade_no", "statement_lines", ["gateway", "gateway_trade_no"]
    )
    op.create_table(
        "order_refunds",
        sa.Column("id", _ID, nullable=False),
        sa.Column("order_id", _ID, nullable=False),
        sa.Column("refund_no", sa.String(length=64), nullable=False),
        sa.Column("serial", sa.String(length=64), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("refunded_at", _UTC(), nullable=True),
        sa.Column("method", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_order_refunds_order_id", "order_refunds", ["order_id"])
    op.create_index("ix_order_refunds_refund_no", "order_refunds", ["refund_no"])
    op.create_index(
        "ix_order_refunds_method_refunded_at", "order_refunds", ["method", "refunded_at"]
    )
    op.create_table(
        "recon_runs",
        sa.Column("id", _ID, nullable=False),
        sa.Column("gateway", sa.String(length=16), nullable=False),
        sa.Column("bill_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payments", sa.Integer(), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("pending", sa.Integer(), nullable=False),
        sa.Column("differences", sa.Integer(), nullable=False),
        sa.Column("at_stake_fen", sa.BigInteger(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("first_run_at", _UTC(), nullable=False),
        sa.Column("last_run_at", _UTC(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("gateway", "bill_date", name="uq_recon_runs_day"),
    )
    op.create_table(
        "recon_differences",
        sa.Column("id", _ID, nullable=False),
        sa.Column("run_id", _ID, nullable=False),
        sa.Column("gateway", sa.String(length=16), nullable=False),
        sa.Column("bill_date", sa.Date(), nullable=False),
        sa.Column("cls", sa.String(length=24), nullable=False),
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("order_id", _ID, nullable=True),
        sa.Column("order_no", sa.String(length=64), nullable=True),
        sa.Column("shop", sa.String(length=128), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("serial", sa.String(length=64), nullable=True),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("expected_fen", sa.BigInteger(), nullable=False),
        sa.Column("actual_fen", sa.BigInteger(), nullable=False),
        sa.Column("fee_milli", sa.BigInteger(), nullable=False),
        sa.Column("at_stake_fen", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("ticket_id", _ID, nullable=True),
        sa.Column("found_at", _UTC(), nullable=False),
        sa.Column("closed_at", _UTC(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["recon_runs.id"]),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("gateway", "bill_date", "cls", "key", name="uq_recon_differences_key"),
    )
    op.create_index("ix_recon_differences_run_id", "recon_differences", ["run_id"])
    op.create_index("ix_recon_differences_day", "recon_differences", ["bill_date", "status"])


def downgrade() -> None:
    op.drop_index("ix_recon_differences_day", table_name="recon_differences")
    op.drop_index("ix_recon_differences_run_id", table_name="recon_differences")
    op.drop_table("recon_differences")
    op.drop_table("recon_runs")
    op.drop_index("ix_order_refunds_method_refunded_at", table_name="order_refunds")
    op.drop_index("ix_order_refunds_refund_no", table_name="order_refunds")
    op.drop_index("ix_order_refunds_order_id", table_name="order_refunds")
    op.drop_table("order_refunds")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("attachment")
        batch.drop_column("attachment_name")
    op.drop_index("ix_statement_lines_trade_no", table_name="statement_lines")
    op.drop_index("ix_order_payments_method_paid_at", table_name="order_payments")
    op.execute(
        "DELETE FROM ticket_events WHERE ticket_id IN "
        "(SELECT id FROM tickets WHERE order_id IS NULL)"
    )
    op.execute(
        "DELETE FROM outbox WHERE ticket_id IN (SELECT id FROM tickets WHERE order_id IS NULL)"
    )
    op.execute("DELETE FROM tickets WHERE order_id IS NULL")
    with _tickets_rebuilt(), op.batch_alter_table("tickets") as batch:
        batch.alter_column("order_id", existing_type=_ID, nullable=False)
    with op.batch_alter_table("order_payments") as batch:
        batch.drop_column("voucher_fen")


@contextmanager
def _tickets_rebuilt() -> Iterator[None]:
    """SQLite rebuilds the tickets table to change a column's NULL (copy, drop, rename), and
    dropping a table other rows point at fails while foreign keys are on: the rows pointing at
    tickets step aside meanwhile and come back unchanged (as in 0010). PostgreSQL alters the
    table in place."""
    if op.get_bind().dialect.name != "sqlite":
        yield
        return
    for table in _CHILDREN:
        op.execute(f"CREATE TEMP TABLE saved_{table} AS SELECT * FROM {table}")
        op.execute(f"DELETE FROM {table}")
    yield
    for table in _CHILDREN:
        op.execute(f"INSERT INTO {table} SELECT * FROM saved_{table}")
        op.execute(f"DROP TABLE saved_{table}")
