"""Expected delivery from the pool's own history: the lanes' transit times, recomputed over the
rolling window (jobs.eta), and each parcel's ETA read from them (rules.eta has the method)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from rules.eta import LaneKey, LaneTime, lane_keys, percentile, transit_time
from services.config import EtaConfig
from storage.eta_lanes import Delivery, deliveries_since, lanes_for, replace_lanes

HOUR = 3600.0


class ParcelOnItsWay(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def carrier(self) -> str | None: ...
    @property
    def origin_province(self) -> str | None: ...
    @property
    def destination_province(self) -> str | None: ...
    @property
    def shipped_at(self) -> datetime | None: ...


def lane_times(deliveries: Sequence[Delivery], percent: int) -> dict[LaneKey, LaneTime]:
    """Each lane's ``percent``-th percentile of transit hours; a delivery counts in its own
    lane, its carrier's lane to its destination and its carrier's as a whole. A delivery
    signed for before it left (a clock or data error) is left out."""
    hours: dict[LaneKey, list[float]] = defaultdict(list)
    for delivery in deliveries:
        transit = (delivery.delivered_at - delivery.shipped_at).total_seconds() / HOUR
        if transit < 0:
            continue
        for key in lane_keys(delivery.carrier, delivery.origin, delivery.destination):
            hours[key].append(transit)
    return {
        key: LaneTime(len(values), percentile(values, percent)) for key, values in hours.items()
    }


async def recompute_lanes(session: AsyncSession, config: EtaConfig, now: datetime) -> int:
    """Replace the stored lanes by those of the deliveries in the window up to ``now``;
    returns how many deliveries they rest on."""
    deliveries = await deliveries_since(session, now - config.window)
    await replace_lanes(session, lane_times(deliveries, config.percentile), now)
    return len(deliveries)


async def etas_of(
    session: AsyncSession, config: EtaConfig, parcels: Sequence[ParcelOnItsWay]
) -> dict[int, datetime | None]:
    """When each parcel is expected: its departure plus its lane's time (or a fallback's);
    None for one whose departure is not known. One statement for all of them."""
    keys = [
        key
        for p in parcels
        if p.carrier
        for key in lane_keys(p.carrier, p.origin_province, p.destination_province)
    ]
    lanes = await lanes_for(session, keys)
    etas: dict[int, datetime | None] = {}
    for p in parcels:
        if p.shipped_at is None:
            etas[p.id] = None
            continue
        transit = transit_time(
            lanes,
            p.carrier,
            p.origin_province,
            p.destination_province,
            min_samples=config.min_samples,
            default=config.default_transit,
        )
        etas[p.id] = p.shipped_at + transit
    return etas
