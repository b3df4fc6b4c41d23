"""When a parcel should arrive, from the pool's own history: a high percentile of the transit
times (shipped → signed for) of a lane, the fallbacks when a lane has too few deliveries, and
the ETA in words, which is never a date already past.

A lane is (carrier code, origin province, destination province); "" stands for any, so
``(SF, "", 上海市)`` is SF to Shanghai from anywhere and ``(SF, "", "")`` SF as a whole.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

ANY = ""

LaneKey = tuple[str, str, str]  # carrier, origin, destination


@dataclass(frozen=True, slots=True)
class LaneTime:
    """A lane's transit time: the percentile in hours, and how many deliveries it rests on."""

    samples: int
    hours: float


def percentile(values: Sequence[float], percent: float) -> float:
    """The ``percent``-th percentile (0-100) of ``values``, interpolated linearly between the
    two nearest ranks (numpy's default); raises ValueError on no values."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * percent / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def lane_keys(carrier: str, origin: str | None, destination: str | None) -> list[LaneKey]:
    """The lanes a parcel's time is looked up in, the most specific first: its own lane, its
    carrier to its destination from anywhere, its carrier as a whole. A delivery counts in
    each of them."""
    keys: list[LaneKey] = []
    if origin and destination:
        keys.append((carrier, origin, destination))
    if destination:
        keys.append((carrier, ANY, destination))
    keys.append((carrier, ANY, ANY))
    return keys


def transit_time(
    lanes: Mapping[LaneKey, LaneTime],
    carrier: str | None,
    origin: str | None,
    destination: str | None,
    *,
    min_samples: int,
    default: timedelta,
) -> timedelta:
    """The transit time to expect: the first lane (see lane_keys) with at least
    ``min_samples`` deliveries, else the configured default."""
    if carrier:
        for key in lane_keys(carrier, origin, destination):
            lane = lanes.get(key)
            if lane is not None and lane.samples >= min_samples:
                return timedelta(hours=lane.hours)
    return default


def date_words(moment: datetime, tz: tzinfo) -> str:
    """A day as people say it: ``12月4日``."""
    local = moment.astimezone(tz)
    return f"{local.month}月{local.day}日"


def eta_words(eta: datetime, now: datetime, tz: tzinfo) -> str:
    """``预计12月4日送达``; once that day has passed, how late it is instead (``比预计晚1天``),
    never a date in the past."""
    late_days = (now.astimezone(tz).date() - eta.astimezone(tz).date()).days
    if late_days > 0:
        return f"比预计晚{late_days}天"
    return f"预计{date_words(eta, tz)}送达"
