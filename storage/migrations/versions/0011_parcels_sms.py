"""parcels followed to the door, their scans, texts to customers, opt-outs and ETA lanes

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 18:30:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import storage.models
from rules.logistics import carrier_of

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_UTC = storage.models.UtcDateTime
# [tracking].stall_after's default: a migration does not read the config; the first scan sets
# the carrier's own limit.
_STALL_AFTER = timedelta(hours=24)


def upgrade() -> None:
    op.create_table(
        "parcels",
        sa.Column("id", _ID, nullable=False),
        sa.Column("order_id", _ID, nullable=False),
        sa.Column("tracking_no", sa.String(length=64), nullable=False),
        sa.Column("carrier", sa.String(length=16), nullable=True),
        sa.Column("carrier_text", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=True),
        sa.Column("state_code", sa.String(length=16), nullable=True),
        sa.Column("state_at", _UTC(), nullable=True),
        sa.Column("last_scan_at", _UTC(), nullable=True),
        sa.Column("last_scan_place", sa.String(length=128), nullable=True),
        sa.Column("last_scan_text", sa.Text(), nullable=True),
        sa.Column("shipped_at", _UTC(), nullable=True),
        sa.Column("delivered_at", _UTC(), nullable=True),
        sa.Column("origin_province", sa.String(length=32), nullable=True),
        sa.Column("destination_province", sa.String(length=32), nullable=True),
        sa.Column("stall_check_at", _UTC(), nullable=True),
        sa.Column("subscription", sa.String(length=16), nullable=False),
        sa.Column("subscribe_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("subscribe_next_at", _UTC(), nullable=True),
        sa.Column("subscribe_error", sa.Text(), nullable=True),
        sa.Column("created_at", _UTC(), nullable=False),
        sa.Column("updated_at", _UTC(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tracking_no", "order_id", name="uq_parcels_tracking_no_order_id"),
    )
    op.create_index("ix_parcels_order_id", "parcels", ["order_id"])
    op.create_index("ix_parcels_tracking_no", "parcels", ["tracking_no"])
    op.create_index("ix_parcels_stall_check_at", "parcels", ["stall_check_at"])
    op.create_index("ix_parcels_subscribe_due", "parcels", ["subscription", "subscribe_next_at"])
    op.create_table(
        "parcel_scans",
        sa.Column("id", _ID, nullable=False),
        sa.Column("parcel_id", _ID, nullable=False),
        sa.Column("order_id", _ID, nullable=False),
        sa.Column("at", _UTC(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=True),
        sa.Column("code", sa.String(length=16), nullable=True),
        sa.Column("place", sa.String(length=128), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.Column("received_at", _UTC(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.ForeignKeyConstraint(["parcel_id"], ["parcels.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("parcel_id", "digest", name="uq_parcel_scans_digest"),
    )
    op.create_index("ix_parcel_scans_order_id", "parcel_scans", ["order_id"])
    op.create_table(
        "sms_messages",
        sa.Column("id", _ID, nullable=False),
        sa.Column("dedup_key", sa.String(length=160), nullable=False),
        sa.Column("order_id", _ID, nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("not_before", _UTC(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=True),
        sa.Column("serial", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", _UTC(), nullable=False),
        sa.Column("sent_at", _UTC(), nullable=True),
        sa.Column("receipt_at", _UTC(), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedup_key"),
    )
    op.create_index("ix_sms_messages_order_id", "sms_messages", ["order_id"])
    op.create_index("ix_sms_messages_phone", "sms_messages", ["phone"])
    op.create_index("ix_sms_messages_serial", "sms_messages", ["serial"])
    op.create_index("ix_sms_messages_status_not_before", "sms_messages", ["status", "not_before"])
    op.create_table(
        "sms_opt_outs",
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("at", _UTC(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("phone"),
    )
    op.create_table(
        "eta_lanes",
        sa.Column("carrier", sa.String(length=16), nullable=False),
        sa.Column("origin", sa.String(length=32), nullable=False),
        sa.Column("destination", sa.String(length=32), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("hours", sa.Float(), nullable=False),
        sa.Column("computed_at", _UTC(), nullable=False),
        sa.PrimaryKeyConstraint("carrier", "origin", "destination"),
    )
    _follow_shipped_waybills()


def _follow_shipped_waybills() -> None:
    """The waybills of orders shipped before this revision are followed too: each becomes a
    parcel waiting to be subscribed, checked for a stall a day after it shipped."""
    now = datetime.now(UTC)
    rows = op.get_bind().execute(
        sa.text(
            "SELECT w.order_id, w.tracking_no, w.carrier, w.shipped_at, o.province"
            " FROM order_waybills w JOIN orders o ON o.id = w.order_id"
            " WHERE o.stage = 'shipped'"
        )
    )
    parcels: dict[tuple[str, int], dict[str, object]] = {}
    for order_id, tracking_no, carrier, shipped_at, province in rows:
        known = carrier_of(carrier)
        shipped = _UTC().process_result_value(shipped_at, op.get_bind().dialect)
        parcels.setdefault(
            (tracking_no, order_id),
            {
                "order_id": order_id,
                "tracking_no": tracking_no,
                "carrier": known.code if known else None,
                "carrier_text": carrier,
                "shipped_at": shipped,
                "destination_province": province,
                "stall_check_at": (shipped or now) + _STALL_AFTER,
                "subscription": "pending",
                "subscribe_attempts": 0,
                "subscribe_next_at": now,
                "created_at": now,
                "updated_at": now,
            },
        )
    if parcels:
        op.bulk_insert(storage.models.Parcel.__table__, list(parcels.values()))


def downgrade() -> None:
    for name in ("eta_lanes", "sms_opt_outs", "sms_messages", "parcel_scans", "parcels"):
        op.drop_table(name)
