"""rule versions: the rules as data, the version in force, promotion switches

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 09:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_UTC = storage.models.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "rule_versions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("based_on", sa.Integer(), nullable=True),
        sa.Column("created_at", _UTC(), nullable=False),
        sa.Column("published_at", _UTC(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    rules_in_force = op.create_table(
        "rules_in_force",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("version_id", _ID, nullable=True),
        sa.Column("changed_at", _UTC(), nullable=True),
        sa.ForeignKeyConstraint(["version_id"], ["rule_versions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    # The one row, there from the start: publishing only ever updates it (and locks it).
    op.bulk_insert(rules_in_force, [{"id": 1, "version_id": None, "changed_at": None}])
    op.create_table(
        "rule_switches",
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("at", _UTC(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("rule_switches")
    op.drop_table("rules_in_force")
    op.drop_table("rule_versions")
