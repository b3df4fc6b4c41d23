"""SLA figures from tickets: counts, time to claim and to resolve (median and p90).

Pure: the caller loads the tickets of a period and renders the result.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class TicketLike(Protocol):
    opened_at: datetime
    claimed_at: datetime | None
    resolved_at: datetime | None
    resolution: str | None
    level: int


def percentile(values: Sequence[timedelta], q: float) -> timedelta | None:
    """The q-th percentile (0–100), interpolating linearly between the closest ranks (the
    "inclusive" method: the median of 1, 2, 3, 4 is 2.5); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Spread:
    median: timedelta | None
    p90: timedelta | None

    @classmethod
    def of(cls, values: Sequence[timedelta]) -> Spread:
        return cls(percentile(values, 50), percentile(values, 90))


@dataclass(frozen=True)
class Summary:
    opened: int
    claimed: int
    resolved: int
    resolved_by_hand: int
    escalated: int  # reached a supervisor (level 2 or more)
    still_open: int
    time_to_claim: Spread
    time_to_resolve: Spread


def summarize(tickets: Iterable[TicketLike]) -> Summary:
    """Figures for the tickets opened in a period, as they stand now."""
    items = list(tickets)
    claims = [t.claimed_at - t.opened_at for t in items if t.claimed_at is not None]
    closes = [t.resolved_at - t.opened_at for t in items if t.resolved_at is not None]
    return Summary(
        opened=len(items),
        claimed=len(claims),
        resolved=len(closes),
        resolved_by_hand=sum(1 for t in items if t.resolution == "manual"),
        escalated=sum(1 for t in items if t.level >= 2),
        still_open=sum(1 for t in items if t.resolved_at is None),
        time_to_claim=Spread.of(claims),
        time_to_resolve=Spread.of(closes),
    )


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """A local calendar day as an aware [start, end) range."""
    start = datetime.combine(day, time(0), tz)
    return start, datetime.combine(day + timedelta(days=1), time(0), tz)
