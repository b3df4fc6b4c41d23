"""SLA reports loaded from storage: the one place the report job, ``orderbot report`` and the
报表 chat command get a report from."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.policy import Policy
from rules.render import CHANNEL_LABELS
from rules.report import Names, Period, Report, build_report
from rules.stages import Stage
from storage.reports import met_between, oldest_open, open_count, tickets_between

ALL_GROUPS = "全部处理组"
TREND_DAYS = 7
OLDEST_SHOWN = 10


def timezone(policy: Policy) -> ZoneInfo:
    return ZoneInfo(policy.config.watch.timezone)


def day_of(policy: Policy, moment: datetime) -> date:
    """The local calendar day of ``moment``."""
    return moment.astimezone(timezone(policy)).date()


def names(policy: Policy) -> Names:
    return Names(
        stages=lambda stage: Stage(stage).label,
        channels=lambda channel: CHANNEL_LABELS.get(channel, channel),
        groups=lambda key: policy.group(key).name,
    )


async def load_report(
    sessions: async_sessionmaker[AsyncSession],
    policy: Policy,
    period: Period,
    groups: list[str] | None = None,
) -> Report:
    """The report of ``period`` for these groups (None: all), with the previous period and
    the trend loaded in one span."""
    first = min(period.previous.first, period.last - timedelta(days=TREND_DAYS - 1))
    start = Period(first, period.last, period.tz).bounds[0]
    async with sessions() as session:
        tickets = await tickets_between(session, start, period.bounds[1], groups)
        met = await met_between(session, first, period.last, groups)
        oldest = await oldest_open(session, groups, OLDEST_SHOWN)
        still_open = await open_count(session, groups)
    if groups is None or len(groups) != 1:
        scope = ALL_GROUPS if groups is None else "、".join(policy.group(g).name for g in groups)
    else:
        scope = policy.group(groups[0]).name
    return build_report(
        scope=scope,
        period=period,
        tickets=tickets,
        met=met,
        oldest_open=oldest,
        open_now=still_open,
        names=names(policy),
        trend_days=TREND_DAYS,
    )
