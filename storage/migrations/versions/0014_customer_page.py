"""the customer's page: one-time codes, sessions and rate-limit hits

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 06:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_UTC = storage.models.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "customer_codes",
        sa.Column("id", _ID, nullable=False),
        sa.Column("phone_key", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", _UTC(), nullable=False),
        sa.Column("expires_at", _UTC(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("used_at", _UTC(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_customer_codes_phone_key_id", "customer_codes", ["phone_key", "id"])
    op.create_table(
        "customer_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("created_at", _UTC(), nullable=False),
        sa.Column("expires_at", _UTC(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_customer_sessions_expires_at", "customer_sessions", ["expires_at"])
    op.create_table(
        "customer_hits",
        sa.Column("id", _ID, nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("at", _UTC(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_customer_hits_scope_key_at", "customer_hits", ["scope", "key", "at"])


def downgrade() -> None:
    op.drop_index("ix_customer_hits_scope_key_at", table_name="customer_hits")
    op.drop_table("customer_hits")
    op.drop_index("ix_customer_sessions_expires_at", table_name="customer_sessions")
    op.drop_table("customer_sessions")
    op.drop_index("ix_customer_codes_phone_key_id", table_name="customer_codes")
    op.drop_table("customer_codes")
