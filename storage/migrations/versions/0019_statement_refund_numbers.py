"""statement lines: refund lines indexed by their refund numbers (partial indexes)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 14:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("refund_no", "gateway_refund_no")


def upgrade() -> None:
    for column in _COLUMNS:
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            f"ix_statement_lines_{column}",
            "statement_lines",
            ["gateway", column],
            sqlite_where=where,
            postgresql_where=where,
        )


def downgrade() -> None:
    for column in _COLUMNS:
        op.drop_index(f"ix_statement_lines_{column}", table_name="statement_lines")
