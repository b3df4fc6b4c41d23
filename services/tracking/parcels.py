"""Following waybills: an order that ships with a waybill (a channel record in stage shipped,
or a TMS's stage event) gets a parcel per waybill not yet followed, its subscription pending so
the subscribe job takes it to the provider at once."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from rules.details import Waybill, distinct_waybills
from rules.logistics import carrier_of
from rules.stages import Stage
from services.config import TrackingConfig
from storage.orders import OrderRow
from storage.parcels import NewParcel, insert_parcels


def parcel_row(
    tracking: TrackingConfig, order: OrderRow, waybill: Waybill, now: datetime
) -> NewParcel:
    """A waybill of a stored order, to follow from now; a parcel no scan ever reaches stalls
    its carrier's limit after it shipped."""
    known = carrier_of(waybill.carrier)
    carrier = known.code if known else None
    shipped_at = waybill.shipped_at or order["shipped_at"]
    return {
        "order_id": order["id"],
        "tracking_no": waybill.tracking_no,
        "carrier": carrier,
        "carrier_text": waybill.carrier,
        "shipped_at": shipped_at,
        "origin_province": tracking.origin_province,
        "destination_province": order["province"],
        "stall_check_at": (shipped_at or now) + tracking.stall_limit(carrier),
        "subscription": "pending",
        "subscribe_attempts": 0,
        "subscribe_next_at": now,
        "created_at": now,
        "updated_at": now,
    }


async def follow_shipped(
    session: AsyncSession,
    tracking: TrackingConfig | None,
    shipped: Iterable[tuple[OrderRow, Sequence[Waybill]]],
    now: datetime,
) -> int:
    """Follow the waybills of orders in stage shipped (others are skipped); a waybill already
    followed for its order stays as it is. One statement for the batch; returns how many
    parcels are new. Nothing without [tracking]."""
    if tracking is None:
        return 0
    rows = [
        parcel_row(tracking, order, waybill, now)
        for order, waybills in shipped
        if order["stage"] == Stage.SHIPPED
        for waybill in distinct_waybills(waybills)
    ]
    return await insert_parcels(session, rows)
