"""SLA reports: counts, time to claim and to resolve (median and p90), attainment by stage,
channel, region and group, handlers, the oldest open tickets, and the change against the
previous period.

Pure: the caller loads tickets (the stage entries that missed their deadline) and met counts
(those that did not) and renders the result.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class TicketLike(Protocol):
    @property
    def opened_at(self) -> datetime: ...
    @property
    def claimed_at(self) -> datetime | None: ...
    @property
    def resolved_at(self) -> datetime | None: ...
    @property
    def resolution(self) -> str | None: ...
    @property
    def level(self) -> int: ...


class ReportTicket(TicketLike, Protocol):
    @property
    def id(self) -> int: ...
    @property
    def group_key(self) -> str: ...
    @property
    def stage(self) -> str: ...
    @property
    def owner(self) -> str | None: ...
    @property
    def deadline_at(self) -> datetime: ...
    @property
    def channel(self) -> str: ...
    @property
    def province(self) -> str | None: ...
    @property
    def order_no(self) -> str: ...


class MetLike(Protocol):
    """How many stage entries met their deadline on one local day, for one combination."""

    @property
    def day(self) -> str: ...  # YYYY-MM-DD
    @property
    def stage(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def province(self) -> str: ...  # "" when unknown
    @property
    def group_key(self) -> str: ...
    @property
    def met(self) -> int: ...


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


@dataclass(frozen=True)
class Period:
    """Whole local days, ``first`` to ``last`` inclusive."""

    first: date
    last: date
    tz: ZoneInfo

    @classmethod
    def ending(cls, last: date, days: int, tz: ZoneInfo) -> Period:
        return cls(last - timedelta(days=days - 1), last, tz)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        return day_bounds(self.first, self.tz)[0], day_bounds(self.last, self.tz)[1]

    @property
    def previous(self) -> Period:
        return Period.ending(self.first - timedelta(days=1), self.days, self.tz)

    @property
    def label(self) -> str:
        if self.first == self.last:
            return f"{self.first:%m-%d}"
        return f"{self.first:%m-%d} ~ {self.last:%m-%d}"

    def holds(self, moment: datetime) -> bool:
        return self.first <= moment.astimezone(self.tz).date() <= self.last


@dataclass(frozen=True)
class Attainment:
    """Stage entries due in the period: how many moved on in time, how many did not."""

    name: str
    met: int
    missed: int

    @property
    def due(self) -> int:
        return self.met + self.missed

    @property
    def rate(self) -> float | None:
        return self.met / self.due if self.due else None


@dataclass(frozen=True)
class HandlerLine:
    user: str
    claimed: int
    resolved: int
    time_to_resolve: Spread


@dataclass(frozen=True)
class OpenLine:
    ticket_id: int
    order_no: str
    group: str
    stage: str
    deadline_at: datetime
    owner: str | None


@dataclass(frozen=True)
class Report:
    scope: str  # a group's name, or 全部处理组
    period: Period
    summary: Summary
    previous: Summary
    overall: Attainment
    previous_overall: Attainment
    by_stage: list[Attainment]
    by_channel: list[Attainment]
    by_region: list[Attainment]
    by_group: list[Attainment]
    handlers: list[HandlerLine]
    oldest_open: list[OpenLine]
    open_now: int
    opened_by_hour: tuple[int, ...]  # 24 local hours, over the period
    daily: tuple[tuple[date, float | None], ...]  # attainment of each day of the trend


@dataclass(frozen=True)
class Names:
    """How keys read on screen."""

    stages: Callable[[str], str]
    channels: Callable[[str], str]
    groups: Callable[[str], str]


def _attainment(
    name_of: Callable[[str], str],
    key_of_met: Callable[[MetLike], str],
    key_of_ticket: Callable[[ReportTicket], str],
    met: Iterable[MetLike],
    tickets: Iterable[ReportTicket],
) -> list[Attainment]:
    """Attainment per key, worst first (larger first among equals)."""
    met_by: Counter[str] = Counter()
    missed_by: Counter[str] = Counter()
    for row in met:
        met_by[key_of_met(row)] += row.met
    for ticket in tickets:
        missed_by[key_of_ticket(ticket)] += 1
    lines = [Attainment(name_of(k), met_by[k], missed_by[k]) for k in met_by.keys() | missed_by]
    return sorted(lines, key=lambda a: (a.rate if a.rate is not None else 2.0, -a.due, a.name))


def _region(province: str | None) -> str:
    return province or "地址未知"


def _handlers(tickets: Sequence[ReportTicket]) -> list[HandlerLine]:
    """Each owner's claims and closes among the period's tickets, busiest first."""
    owned: dict[str, list[ReportTicket]] = {}
    for ticket in tickets:
        if ticket.owner is not None:
            owned.setdefault(ticket.owner, []).append(ticket)
    lines = [
        HandlerLine(
            user,
            claimed=len(items),
            resolved=sum(1 for t in items if t.resolved_at is not None),
            time_to_resolve=Spread.of(
                [t.resolved_at - t.opened_at for t in items if t.resolved_at is not None]
            ),
        )
        for user, items in owned.items()
    ]
    return sorted(lines, key=lambda h: (-h.resolved, -h.claimed, h.user))


def missed_deadline(ticket: ReportTicket, now: datetime) -> bool:
    """Whether the ticket's stage entry passed its deadline unfinished. A ticket opened by an
    early warning (an escalation level before the deadline) that closed in time did not."""
    return (ticket.resolved_at or now) > ticket.deadline_at


def build_report(
    *,
    scope: str,
    period: Period,
    tickets: Sequence[ReportTicket],
    met: Sequence[MetLike],
    oldest_open: Sequence[ReportTicket],
    open_now: int,
    names: Names,
    now: datetime,
    trend_days: int = 7,
) -> Report:
    """The report of ``period``. Tickets count for the period they opened in, attainment for
    the day their deadline fell on (as met entries do), over the period, the previous period
    and the trend days before its end (the caller loads that span once, with a day's margin
    before it for tickets opened ahead of their deadline)."""

    def in_period(p: Period) -> tuple[list[ReportTicket], list[ReportTicket], list[MetLike]]:
        first, last = p.first.isoformat(), p.last.isoformat()
        return (
            [t for t in tickets if p.holds(t.opened_at)],
            [t for t in tickets if p.holds(t.deadline_at) and missed_deadline(t, now)],
            [m for m in met if first <= m.day <= last],
        )

    now_tickets, now_missed, now_met = in_period(period)
    before_tickets, before_missed, before_met = in_period(period.previous)

    def overall(missed: Sequence[ReportTicket], ms: Sequence[MetLike]) -> Attainment:
        return Attainment(scope, sum(m.met for m in ms), len(missed))

    daily = []
    for day in (period.last - timedelta(days=n) for n in range(trend_days - 1, -1, -1)):
        _, day_missed, day_met = in_period(Period(day, day, period.tz))
        daily.append((day, overall(day_missed, day_met).rate))
    hours = Counter(t.opened_at.astimezone(period.tz).hour for t in now_tickets)
    return Report(
        scope=scope,
        period=period,
        summary=summarize(now_tickets),
        previous=summarize(before_tickets),
        overall=overall(now_missed, now_met),
        previous_overall=overall(before_missed, before_met),
        by_stage=_attainment(
            names.stages, lambda m: m.stage, lambda t: t.stage, now_met, now_missed
        ),
        by_channel=_attainment(
            names.channels, lambda m: m.channel, lambda t: t.channel, now_met, now_missed
        ),
        by_region=_attainment(
            _region, lambda m: m.province, lambda t: t.province or "", now_met, now_missed
        ),
        by_group=_attainment(
            names.groups, lambda m: m.group_key, lambda t: t.group_key, now_met, now_missed
        ),
        handlers=_handlers(now_tickets),
        oldest_open=[
            OpenLine(
                t.id,
                t.order_no,
                names.groups(t.group_key),
                names.stages(t.stage),
                t.deadline_at,
                t.owner,
            )
            for t in oldest_open
        ],
        open_now=open_now,
        opened_by_hour=tuple(hours.get(h, 0) for h in range(24)),
        daily=tuple(daily),
    )
