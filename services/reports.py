"""SLA reports loaded from storage: the one place the report job, ``orderbot report`` and the
报表 chat command get a report from."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from channels.registry import channel_label
from rules.report import Names, Period, Report, build_report
from rules.report_export import report_csv, report_xlsx
from rules.report_text import render_full_report
from rules.stages import Stage
from services.config import Config
from services.policy import Policy
from services.rulebook import policy_in_force
from storage.db import begin_reading
from storage.migrate import migrated_sessions
from storage.reports import met_between, oldest_open, open_count, tickets_between

ALL_GROUPS = "全部处理组"
TREND_DAYS = 7
OLDEST_SHOWN = 10


def day_of(policy: Policy, moment: datetime) -> date:
    """The local calendar day of ``moment``."""
    return moment.astimezone(policy.timezone).date()


def names(policy: Policy) -> Names:
    return Names(
        stages=lambda stage: Stage(stage).label,
        channels=channel_label,
        groups=lambda key: policy.group(key).name,
    )


async def load_report(
    session: AsyncSession,
    policy: Policy,
    period: Period,
    now: datetime,
    groups: list[str] | None = None,
    *,
    open_shown: int | None = OLDEST_SHOWN,
) -> Report:
    """The report of ``period`` for these groups (None: all), with the previous period and
    the trend loaded in one span; ``open_shown`` of the oldest open tickets (None: all)."""
    trend_days = max(TREND_DAYS, period.days)
    first = min(period.previous.first, period.last - timedelta(days=trend_days - 1))
    # A day's margin: a ticket may open ahead of its deadline (an early-warning level).
    start = Period(first, period.last, period.tz).bounds[0] - timedelta(days=1)
    tickets = await tickets_between(session, start, period.bounds[1], groups)
    met = await met_between(session, first, period.last, groups)
    oldest = await oldest_open(session, groups, open_shown)
    still_open = await open_count(session, groups)
    if groups is None or len(groups) != 1:
        scope = ALL_GROUPS if groups is None else "、".join(policy.group(g).name for g in groups)
    else:
        scope = policy.group(groups[0]).name
    # A month of tickets takes a good fraction of a second to sum up: not on the event loop.
    return await asyncio.to_thread(
        build_report,
        scope=scope,
        period=period,
        tickets=tickets,
        met=met,
        oldest_open=oldest,
        open_now=still_open,
        names=names(policy),
        now=now,
        trend_days=trend_days,
    )


async def report_file(
    config: Config, period: Period, groups: list[str] | None, fmt: str, now: datetime
) -> bytes:
    """The report as a file for ``orderbot report``: markdown, CSV or XLSX."""
    async with migrated_sessions(config.database.url) as sessions:
        policy = await policy_in_force(sessions, config, now)  # the rules in force, not the file's
        async with sessions() as session:
            await begin_reading(session)
            report = await load_report(session, policy, period, now, groups, open_shown=None)
    if fmt == "csv":
        return report_csv(report)
    if fmt == "xlsx":
        return await asyncio.to_thread(report_xlsx, report)
    return render_full_report(report, now).encode()
