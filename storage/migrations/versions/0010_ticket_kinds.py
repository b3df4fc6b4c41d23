"""ticket kinds: kind, subject and episode as the unique key; an order's first stage as an event

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 15:30:00.000000
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite's copy of the table must name the unnamed key of 0001 to drop it.
_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s_%(column_1_name)s_%(column_2_name)s"}
_OLD_KEY_SQLITE = "uq_tickets_order_id_stage_stage_entered_at"
_OLD_KEY_POSTGRESQL = "tickets_order_id_stage_stage_entered_at_key"
_NEW_KEY = "uq_tickets_kind_subject_episode"


def _entered_text(dialect: str) -> str:
    """stage_entered_at as rules.kinds.stage_episode writes it (UTC, microseconds)."""
    if dialect == "postgresql":
        return "to_char(stage_entered_at, 'YYYY-MM-DD HH24:MI:SS.US')"
    return "stage_entered_at"  # already that text on SQLite (storage.models.UtcDateTime)


def _epoch_seconds(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return f"floor(extract(epoch from {column}))::bigint"
    return f"CAST(strftime('%s', {column}) AS INTEGER)"


_CHILDREN = ("ticket_events", "outbox")  # the tables whose rows point at tickets


@contextmanager
def _tickets_rebuilt(dialect: str) -> Iterator[None]:
    """On SQLite batch mode rebuilds the tickets table (copy, drop, rename), and dropping a
    table other rows point at fails while foreign keys are on (which cannot change inside the
    migration's transaction): the rows pointing at tickets step aside meanwhile and come back
    unchanged. PostgreSQL alters the table in place."""
    if dialect != "sqlite":
        yield
        return
    for table in _CHILDREN:
        op.execute(f"CREATE TEMP TABLE saved_{table} AS SELECT * FROM {table}")
        op.execute(f"DELETE FROM {table}")
    yield
    for table in _CHILDREN:
        op.execute(f"INSERT INTO {table} SELECT * FROM saved_{table}")
        op.execute(f"DROP TABLE saved_{table}")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("subject", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("episode", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("summary", sa.Text(), nullable=True))
    # Every ticket so far is an overdue stage entry of an order.
    op.execute(
        "UPDATE tickets SET kind = 'overdue', subject = 'order:' || order_id,"
        f" episode = stage || '@' || {_entered_text(dialect)}"
    )
    old_key = _OLD_KEY_POSTGRESQL if dialect == "postgresql" else _OLD_KEY_SQLITE
    with (
        _tickets_rebuilt(dialect),
        op.batch_alter_table("tickets", naming_convention=_NAMES) as batch,
    ):
        batch.alter_column("kind", existing_type=sa.String(length=16), nullable=False)
        batch.alter_column("subject", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("episode", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("stage", existing_type=sa.String(length=32), nullable=True)
        batch.alter_column(
            "stage_entered_at", existing_type=storage.models.UtcDateTime(), nullable=True
        )
        batch.drop_constraint(old_key, type_="unique")
        batch.create_unique_constraint(_NEW_KEY, ["kind", "subject", "episode"])
    # An order that never changed stage has no event: its first (and only) stage becomes one,
    # as ingest now records it (event id as services.lifecycle writes it). One statement.
    op.execute(
        "INSERT INTO order_events"
        " (order_id, source, event_id, stage, occurred_at, received_at, applied)"
        " SELECT o.id, o.channel, o.channel_order_id || ':' || o.stage || ':' || "
        f"{_epoch_seconds(dialect, 'o.stage_entered_at')},"
        " o.stage, o.stage_entered_at, o.received_at, true"
        " FROM orders o"
        " WHERE NOT EXISTS (SELECT 1 FROM order_events e WHERE e.order_id = o.id)"
    )


def downgrade() -> None:
    # Tickets of other kinds cannot be told apart by the old key: they go, with their
    # timeline and notices. First-stage events stay: they are true history.
    dialect = op.get_bind().dialect.name
    others = "SELECT id FROM tickets WHERE kind <> 'overdue'"
    op.execute(f"DELETE FROM ticket_events WHERE ticket_id IN ({others})")
    op.execute(f"DELETE FROM outbox WHERE ticket_id IN ({others})")
    op.execute("DELETE FROM tickets WHERE kind <> 'overdue'")
    old_key = _OLD_KEY_POSTGRESQL if dialect == "postgresql" else _OLD_KEY_SQLITE
    with (
        _tickets_rebuilt(dialect),
        op.batch_alter_table("tickets", naming_convention=_NAMES) as batch,
    ):
        batch.drop_constraint(_NEW_KEY, type_="unique")
        batch.create_unique_constraint(old_key, ["order_id", "stage", "stage_entered_at"])
        batch.alter_column("stage", existing_type=sa.String(length=32), nullable=False)
        batch.alter_column(
            "stage_entered_at", existing_type=storage.models.UtcDateTime(), nullable=False
        )
        batch.drop_column("summary")
        batch.drop_column("episode")
        batch.drop_column("subject")
        batch.drop_column("kind")
