"""statement lines: one Parquet file per statement (statements.lines) instead of a row each

The lines already stored are moved into their statement's file, statement by statement, and
the table statement_lines is dropped. Undone, the files are unpacked into rows again.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 18:00:00.000000
"""

from collections.abc import Sequence

import polars as pl
import sqlalchemy as sa
from alembic import op

import storage.models
from storage.statements import pack, unpack

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_UTC = storage.models.UtcDateTime

# The line shape as it was when the lines moved (rules.statements.LINE_SCHEMA then).
_SCHEMA = pl.Schema(
    {
        "gateway": pl.String(),
        "bill_date": pl.Date(),
        "line_no": pl.Int64(),
        "trade_at": pl.Datetime("us", "UTC"),
        "merchant_id": pl.String(),
        "merchant_order_no": pl.String(),
        "gateway_trade_no": pl.String(),
        "kind": pl.String(),
        "status": pl.String(),
        "order_fen": pl.Int64(),
        "amount_fen": pl.Int64(),
        "coupon_fen": pl.Int64(),
        "refund_fen": pl.Int64(),
        "refund_no": pl.String(),
        "gateway_refund_no": pl.String(),
        "fee_milli": pl.Int64(),
        "fee_fen": pl.Int64(),
        "attach": pl.String(),
    }
)
_TEXT = {
    "gateway": 16,
    "merchant_id": 64,
    "merchant_order_no": 64,
    "gateway_trade_no": 64,
    "kind": 16,
    "status": 32,
    "refund_no": 64,
    "gateway_refund_no": 64,
}
_NULLABLE = {"merchant_order_no", "gateway_trade_no", "status", "refund_no", "gateway_refund_no"}


def _line_columns() -> list[sa.Column[object]]:
    columns: list[sa.Column[object]] = []
    for name, dtype in _SCHEMA.items():
        kind: object
        if name in _TEXT:
            kind = sa.String(length=_TEXT[name])
        elif name == "attach":
            kind = sa.Text()
        elif name == "bill_date":
            kind = sa.Date()
        elif name == "trade_at":
            kind = _UTC()
        elif name == "line_no":
            kind = sa.Integer()
        else:
            assert dtype == pl.Int64(), name
            kind = sa.BigInteger()
        nullable = name in _NULLABLE or name == "attach"
        columns.append(sa.Column(name, kind, nullable=nullable))
    return columns


def _lines_table() -> sa.Table:
    return sa.Table(
        "statement_lines",
        sa.MetaData(),
        sa.Column("id", _ID, primary_key=True),
        sa.Column("statement_id", _ID),
        *_line_columns(),
    )


_statements = sa.table("statements", sa.column("id", _ID), sa.column("lines", sa.LargeBinary()))


def upgrade() -> None:
    with op.batch_alter_table("statements") as batch:
        batch.add_column(sa.Column("lines", sa.LargeBinary(), nullable=True))
    bind = op.get_bind()
    lines = _lines_table()
    ids = bind.execute(sa.select(_statements.c.id).order_by(_statements.c.id)).scalars().all()
    for statement_id in ids:
        rows = bind.execute(
            sa.select(*(lines.c[name] for name in _SCHEMA.names()))
            .where(lines.c.statement_id == statement_id)
            .order_by(lines.c.id)
        ).all()
        frame = pl.DataFrame([tuple(row) for row in rows], schema=_SCHEMA, orient="row")
        bind.execute(
            _statements.update().where(_statements.c.id == statement_id).values(lines=pack(frame))
        )
    op.drop_table("statement_lines")
    with op.batch_alter_table("statements") as batch:
        batch.alter_column("lines", existing_type=sa.LargeBinary(), nullable=False)


def downgrade() -> None:
    op.create_table(
        "statement_lines",
        sa.Column("id", _ID, nullable=False),
        sa.Column("statement_id", _ID, nullable=False),
        *_line_columns(),
        sa.ForeignKeyConstraint(["statement_id"], ["statements.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_statement_lines_statement_id", "statement_lines", ["statement_id"])
    for name, column in (("order_no", "merchant_order_no"), ("trade_no", "gateway_trade_no")):
        op.create_index(f"ix_statement_lines_{name}", "statement_lines", ["gateway", column])
    for column in ("refund_no", "gateway_refund_no"):
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            f"ix_statement_lines_{column}",
            "statement_lines",
            ["gateway", column],
            sqlite_where=where,
            postgresql_where=where,
        )
    bind = op.get_bind()
    lines = _lines_table()
    for statement_id, blob in bind.execute(
        sa.select(_statements.c.id, _statements.c.lines).order_by(_statements.c.id)
    ).all():
        rows = unpack(blob).with_columns(statement_id=pl.lit(statement_id, pl.Int64)).to_dicts()
        if rows:
            bind.execute(lines.insert(), rows)
    op.drop_column("statements", "lines")  # in place (SQLite 3.35+): statement_lines refers to it
