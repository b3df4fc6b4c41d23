"""The stall check's reads and writes: the parcels whose silence is due to be looked at, with
what routing and the customer's text need of their order, and their next check."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.bulk import update_by_id
from storage.models import Order, Parcel

PARCELS = Parcel.__table__
ORDERS = Order.__table__


class DueParcel(NamedTuple):
    """A parcel due for the stall check and its order (it routes as the order would)."""

    id: int
    tracking_no: str
    carrier: str | None
    state: str | None
    last_scan_at: datetime | None
    last_scan_place: str | None
    shipped_at: datetime | None
    created_at: datetime
    order_id: int
    channel: str
    channel_order_id: str
    order_type: str
    stage: str
    stage_entered_at: datetime
    amount_fen: int
    category: str | None
    categories: list[str]
    province: str | None
    city: str | None
    receiver_phone: str | None


_PARCEL_COLUMNS = DueParcel._fields[:8]
_ORDER_COLUMNS = ("id", *DueParcel._fields[9:])


async def claim_due_parcels(session: AsyncSession, now: datetime, limit: int) -> list[DueParcel]:
    """Parcels whose stall check is due by ``now``, the longest due first, locked against
    other instances (``SKIP LOCKED`` on PostgreSQL; SQLite's write lock is taken up front)."""
    query = (
        select(
            *(PARCELS.c[name] for name in _PARCEL_COLUMNS),
            *(ORDERS.c[name] for name in _ORDER_COLUMNS),
        )
        .join(ORDERS, ORDERS.c.id == PARCELS.c.order_id)
        .where(PARCELS.c.stall_check_at <= now)
        .order_by(PARCELS.c.stall_check_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=PARCELS)
    )
    return [DueParcel._make(row) for row in await session.execute(query)]


async def set_stall_checks(
    session: AsyncSession, changes: Sequence[tuple[int, datetime | None]]
) -> None:
    """Each parcel's next stall check (None: none until a new scan)."""
    await update_by_id(session, Parcel, "stall_check_at", changes)
