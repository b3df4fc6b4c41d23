"""SLA clocks: when a stage deadline falls, in wall-clock time or in business hours.

Business hours count only the working window (e.g. 09:00-18:00 Asia/Shanghai) on Chinese
working days. Which dates are working days comes from the ``holidays`` library's official China
calendar, which includes the State Council's make-up workdays (调休), e.g. Sunday 2025-09-28.

Years the official data does not cover: the library carries the published 调休 schedule only up
to some year (2026 for holidays 0.109). For later years it still returns *estimated* festival
dates but no make-up workdays, which would silently give wrong answers. For such a year
``WorkCalendar`` ignores the library and treats Monday-Friday as working days and
Saturday/Sunday as rest days; ``BusinessHours.extra_holidays`` / ``extra_workdays`` are then
applied on top, so operators can enter next year's schedule in config as soon as the State
Council publishes it (usually in November), before the library is updated. This errs towards
deadlines that fall too early (an alert during a holiday) rather than silently too late.
``WorkCalendar.covers(year)`` tells which regime a year is in. The overrides also win over the
library in covered years.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from holidays.countries.china import China

# The holidays library checks its China data against State Council notices from 2001 on.
_FIRST_OFFICIAL_YEAR = 2001
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """Working window on working days, in local time."""

    start: time
    end: time
    timezone: ZoneInfo
    extra_holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"工作时段结束时间必须晚于开始时间: {self.start}-{self.end}")
        both = self.extra_holidays & self.extra_workdays
        if both:
            days = ", ".join(sorted(d.isoformat() for d in both))
            raise ValueError(f"日期不能同时是节假日和调休工作日: {days}")


@cache
def _makeup_workdays(year: int) -> frozenset[date]:
    """Weekend dates of ``year`` that the official calendar makes working days."""
    china = China(years=year, language="zh_CN")
    # weekend_workdays also carries a few entries from other years; keep only this year's.
    return frozenset(d for d in china.weekend_workdays if d.year == year)


@cache
def _official_working_days(year: int) -> frozenset[date]:
    china = China(years=year, language="zh_CN")
    first = date(year, 1, 1)
    days = (first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days))
    return frozenset(d for d in days if china.is_working_day(d))


@cache
def library_official_through() -> int:
    """Last year for which the installed holidays library has the official 调休 schedule.

    Every year since 2001 has had weekend make-up workdays, so the first year without any marks
    the end of the published data. Building a year costs a few milliseconds; computed once.
    """
    year = _FIRST_OFFICIAL_YEAR
    while year < China.end_year and _makeup_workdays(year + 1):
        year += 1
    return year


class WorkCalendar:
    """Which dates are working days: the official China calendar from `holidays`, plus overrides."""

    def __init__(self, hours: BusinessHours, official_through: int | None = None) -> None:
        """``official_through`` overrides the last year treated as officially covered (tests)."""
        self.hours = hours
        self._official_through = (
            library_official_through() if official_through is None else official_through
        )

    def covers(self, year: int) -> bool:
        """Whether official 调休 data exists for ``year`` (otherwise: Mon-Fri + overrides)."""
        return _FIRST_OFFICIAL_YEAR <= year <= self._official_through

    def is_working_day(self, day: date) -> bool:
        if day in self.hours.extra_holidays:
            return False
        if day in self.hours.extra_workdays:
            return True
        if self.covers(day.year):
            return day in _official_working_days(day.year)
        return day.weekday() < 5

    def deadline(self, start: datetime, limit: timedelta) -> datetime:
        """The UTC instant at which ``limit`` of business time has elapsed since ``start``.

        Time outside the daily window and on non-working days does not count; a ``start``
        outside the window starts the clock at the next opening (so a zero limit yields that
        opening). A deadline landing exactly on the window's end stays there.
        """
        if limit < timedelta(0):
            raise ValueError(f"时限不能为负: {limit}")
        cursor = _to_utc(start)
        remaining = limit
        day = cursor.astimezone(self.hours.timezone).date()
        while True:
            if self.is_working_day(day):
                opens, closes = self._window(day)
                begin = max(cursor, opens)
                if begin < closes:
                    if remaining <= closes - begin:
                        return begin + remaining
                    remaining -= closes - begin
            day += _ONE_DAY

    def in_business_hours(self, moment: datetime) -> bool:
        """Whether ``moment`` falls in a working day's window."""
        moment = _to_utc(moment)
        day = moment.astimezone(self.hours.timezone).date()
        if not self.is_working_day(day):
            return False
        opens, closes = self._window(day)
        return opens <= moment < closes

    def recent_working_days(self, before: date, count: int) -> list[date]:
        """The ``count`` working days before ``before``, most recent first."""
        days: list[date] = []
        day = before - _ONE_DAY
        while len(days) < count:
            if self.is_working_day(day):
                days.append(day)
            day -= _ONE_DAY
        return days

    def _window(self, day: date) -> tuple[datetime, datetime]:
        """The day's working window as UTC instants, so arithmetic is in absolute time."""
        tz = self.hours.timezone
        opens = datetime.combine(day, self.hours.start, tzinfo=tz).astimezone(UTC)
        closes = datetime.combine(day, self.hours.end, tzinfo=tz).astimezone(UTC)
        return opens, closes


def wall_deadline(start: datetime, limit: timedelta) -> datetime:
    """Plain ``start + limit`` in absolute time, as an aware UTC datetime."""
    return _to_utc(start) + limit


def _to_utc(moment: datetime) -> datetime:
    # Naive datetimes would be read as the server's local time; refuse them instead.
    if moment.utcoffset() is None:
        raise ValueError(f"需要带时区的时间: {moment!r}")
    return moment.astimezone(UTC)
