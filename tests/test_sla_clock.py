from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from rules.sla_clock import BusinessHours, WorkCalendar, library_official_through, wall_deadline

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOURS = BusinessHours(start=time(9, 0), end=time(18, 0), timezone=SHANGHAI)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("start", "limit", "expected"),
    [
        pytest.param(
            local(2025, 10, 1, 10),
            timedelta(hours=2),
            datetime(2025, 10, 1, 4, tzinfo=UTC),
            id="holidays-count-too",
        ),
        pytest.param(
            datetime(2025, 3, 9, 1, 30, tzinfo=ZoneInfo("America/New_York")),
            timedelta(hours=1),
            datetime(2025, 3, 9, 7, 30, tzinfo=UTC),
            id="absolute-time-across-dst-change",
        ),
    ],
)
def test_wall_deadline(start: datetime, limit: timedelta, expected: datetime) -> None:
    result = wall_deadline(start, limit)
    assert result == expected
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    ("start", "limit", "expected"),
    [
        pytest.param(
            local(2025, 9, 16, 10), timedelta(hours=2), local(2025, 9, 16, 12), id="same-day"
        ),
        pytest.param(
            local(2025, 9, 16, 17), timedelta(hours=2), local(2025, 9, 17, 10), id="over-evening"
        ),
        pytest.param(
            local(2025, 9, 19, 17, 30),
            timedelta(hours=1),
            local(2025, 9, 22, 9, 30),
            id="friday-evening-to-monday",
        ),
        pytest.param(
            local(2025, 9, 13, 10), timedelta(hours=2), local(2025, 9, 15, 11), id="saturday-start"
        ),
        pytest.param(
            local(2025, 9, 16, 7, 30),
            timedelta(minutes=30),
            local(2025, 9, 16, 9, 30),
            id="before-opening",
        ),
        pytest.param(
            local(2025, 9, 16, 20),
            timedelta(0),
            local(2025, 9, 17, 9),
            id="zero-limit-next-opening",
        ),
        pytest.param(
            local(2025, 9, 16, 16), timedelta(hours=2), local(2025, 9, 16, 18), id="ends-at-close"
        ),
        pytest.param(
            local(2025, 9, 16, 18), timedelta(hours=1), local(2025, 9, 17, 10), id="starts-at-close"
        ),
        pytest.param(
            local(2025, 9, 1, 9),
            timedelta(hours=30 * 9),
            local(2025, 10, 16, 18),
            id="thirty-working-days-over-national-day",
        ),
    ],
)
def test_business_deadline(start: datetime, limit: timedelta, expected: datetime) -> None:
    assert WorkCalendar(HOURS).deadline(start, limit) == expected


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        pytest.param(local(2025, 9, 30, 17), local(2025, 10, 9, 10), id="over-national-day-2025"),
        pytest.param(local(2025, 9, 27, 10), local(2025, 9, 28, 11), id="makeup-sunday-2025-09-28"),
        pytest.param(
            local(2025, 10, 10, 17), local(2025, 10, 11, 10), id="makeup-saturday-2025-10-11"
        ),
        pytest.param(
            local(2026, 10, 9, 17), local(2026, 10, 10, 10), id="makeup-saturday-2026-10-10"
        ),
    ],
)
def test_official_holidays_and_makeup_workdays(start: datetime, expected: datetime) -> None:
    assert WorkCalendar(HOURS).deadline(start, timedelta(hours=2)) == expected


def test_utc_in_utc_out() -> None:
    calendar = WorkCalendar(HOURS)
    # 01:00 UTC is 09:00 in Shanghai; a full 9h window ends at exactly 18:00 local.
    result = calendar.deadline(datetime(2025, 9, 16, 1, tzinfo=UTC), timedelta(hours=9))
    assert result == datetime(2025, 9, 16, 10, tzinfo=UTC)
    assert result.tzinfo is UTC
    # 10:00 UTC is 18:00 local: the window has just closed, so counting resumes next morning.
    result = calendar.deadline(datetime(2025, 9, 16, 10, tzinfo=UTC), timedelta(minutes=1))
    assert result == datetime(2025, 9, 17, 1, 1, tzinfo=UTC)


def test_library_covers_through_2026() -> None:
    """Pins what holidays 0.109 ships; revisit the 2027 config overrides when this changes."""
    calendar = WorkCalendar(HOURS)
    assert library_official_through() == 2026
    assert calendar.covers(2026)
    assert not calendar.covers(2027)
    assert not calendar.covers(2000)


@pytest.mark.parametrize(
    ("day", "working"),
    [
        pytest.param(date(2026, 10, 1), True, id="thursday-national-day-unknown"),
        pytest.param(date(2026, 10, 10), False, id="saturday-makeup-unknown"),
        pytest.param(date(2026, 10, 12), True, id="monday"),
        pytest.param(date(2025, 10, 1), False, id="covered-year-unchanged"),
    ],
)
def test_uncovered_year_is_weekdays_only(day: date, working: bool) -> None:
    calendar = WorkCalendar(HOURS, official_through=2025)
    assert not calendar.covers(2026)
    assert calendar.is_working_day(day) is working


def test_real_uncovered_year_ignores_estimated_festivals() -> None:
    # The library estimates Spring Festival 2027 on 02-06..; without 调休 data it is not used.
    calendar = WorkCalendar(HOURS)
    assert calendar.is_working_day(date(2027, 2, 8))
    assert not calendar.is_working_day(date(2027, 2, 6))


def test_overrides_enter_schedule_for_uncovered_year() -> None:
    hours = BusinessHours(
        start=time(9, 0),
        end=time(18, 0),
        timezone=SHANGHAI,
        extra_holidays=frozenset(date(2026, 10, d) for d in range(1, 8)),
        extra_workdays=frozenset({date(2026, 9, 20), date(2026, 10, 10)}),
    )
    calendar = WorkCalendar(hours, official_through=2025)
    assert calendar.deadline(local(2026, 9, 30, 17), timedelta(hours=2)) == local(2026, 10, 8, 10)
    assert calendar.deadline(local(2026, 10, 9, 17), timedelta(hours=2)) == local(2026, 10, 10, 10)
    assert calendar.is_working_day(date(2026, 9, 20))


def test_overrides_win_over_library() -> None:
    hours = BusinessHours(
        start=time(9, 0),
        end=time(18, 0),
        timezone=SHANGHAI,
        extra_holidays=frozenset({date(2025, 9, 16)}),
        extra_workdays=frozenset({date(2025, 10, 2)}),
    )
    calendar = WorkCalendar(hours)
    assert calendar.deadline(local(2025, 9, 15, 17), timedelta(hours=2)) == local(2025, 9, 17, 10)
    assert calendar.deadline(local(2025, 9, 30, 17), timedelta(hours=2)) == local(2025, 10, 2, 10)


@pytest.mark.parametrize(
    ("start", "end", "holidays_", "workdays"),
    [
        pytest.param(time(18, 0), time(9, 0), frozenset(), frozenset(), id="end-before-start"),
        pytest.param(time(9, 0), time(9, 0), frozenset(), frozenset(), id="empty-window"),
        pytest.param(
            time(9, 0),
            time(18, 0),
            frozenset({date(2026, 1, 2)}),
            frozenset({date(2026, 1, 2)}),
            id="day-in-both-overrides",
        ),
    ],
)
def test_business_hours_rejects_bad_config(
    start: time, end: time, holidays_: frozenset[date], workdays: frozenset[date]
) -> None:
    with pytest.raises(ValueError):
        BusinessHours(start, end, SHANGHAI, holidays_, workdays)


@pytest.mark.parametrize(
    ("start", "limit"),
    [
        pytest.param(datetime(2025, 9, 16, 10), timedelta(hours=1), id="naive-start"),  # noqa: DTZ001
        pytest.param(local(2025, 9, 16, 10), timedelta(hours=-1), id="negative-limit"),
    ],
)
def test_deadline_rejects_bad_input(start: datetime, limit: timedelta) -> None:
    with pytest.raises(ValueError):
        WorkCalendar(HOURS).deadline(start, limit)


def test_wall_deadline_rejects_naive_start() -> None:
    with pytest.raises(ValueError):
        wall_deadline(datetime(2025, 9, 16, 10), timedelta(hours=1))  # noqa: DTZ001
