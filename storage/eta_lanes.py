"""The ETA's storage: the deliveries of a window (its samples) and the lanes computed from them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from rules.eta import LaneKey, LaneTime
from storage.models import EtaLane, Parcel

PARCELS = Parcel.__table__
LANES = EtaLane.__table__


class Delivery(NamedTuple):
    """One parcel signed for: its carrier and provinces, and when it left and arrived."""

    carrier: str
    origin: str | None
    destination: str | None
    shipped_at: datetime
    delivered_at: datetime


async def deliveries_since(session: AsyncSession, since: datetime) -> list[Delivery]:
    """The parcels of a known carrier signed for since ``since`` that left at a known time."""
    query = select(
        PARCELS.c.carrier,
        PARCELS.c.origin_province,
        PARCELS.c.destination_province,
        PARCELS.c.shipped_at,
        PARCELS.c.delivered_at,
    ).where(
        PARCELS.c.delivered_at >= since,
        PARCELS.c.shipped_at.is_not(None),
        PARCELS.c.carrier.is_not(None),
    )
    return [Delivery._make(row) for row in await session.execute(query)]


async def replace_lanes(
    session: AsyncSession, lanes: dict[LaneKey, LaneTime], now: datetime
) -> None:
    """The lanes as computed now, instead of the last computation's."""
    await session.execute(delete(LANES))
    rows = [
        {
            "carrier": carrier,
            "origin": origin,
            "destination": destination,
            "samples": lane.samples,
            "hours": lane.hours,
            "computed_at": now,
        }
        for (carrier, origin, destination), lane in lanes.items()
    ]
    if rows:
        await session.execute(LANES.insert(), rows)


# Built once, an expanding IN of (carrier, origin, destination) rows: the statement is compiled
# and cached once however many keys a look-up brings (an OR of equalities was compiled anew for
# every count of keys, on every customer page and 状态).
_LANES_FOR = select(
    LANES.c.carrier, LANES.c.origin, LANES.c.destination, LANES.c.samples, LANES.c.hours
).where(
    tuple_(LANES.c.carrier, LANES.c.origin, LANES.c.destination).in_(
        bindparam("keys", expanding=True)
    )
)


async def lanes_for(session: AsyncSession, keys: Iterable[LaneKey]) -> dict[LaneKey, LaneTime]:
    """The stored lanes among ``keys``."""
    wanted: Sequence[LaneKey] = list(set(keys))
    if not wanted:
        return {}
    return {
        (row.carrier, row.origin, row.destination): LaneTime(row.samples, row.hours)
        for row in await session.execute(_LANES_FOR, {"keys": wanted})
    }
