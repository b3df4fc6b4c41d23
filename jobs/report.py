"""The SLA report job: yesterday's report (or the last week's) into each group's chat, and
the report of all groups to every supervisor, each with its chart.

Reports go through the outbox like every notification, so a WeCom outage delays them and
never loses them; their keys make a second run, or a second instance, queue nothing new.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.wecom.messages import APP_MARKDOWN_MAX_BYTES, WEBHOOK_MARKDOWN_MAX_BYTES
from rules.report import Period, Report
from rules.report_chart import render_chart
from rules.report_text import render_report
from services.policy import Policy
from services.reports import day_of, load_report
from storage.db import begin_reading
from storage.outbox import notice_row, queue_messages


@dataclass
class ReportResult:
    prepared: int = 0  # messages offered to the outbox; one already there is skipped


async def _chart(policy: Policy, report: Report) -> bytes | None:
    if not policy.config.reports.chart:
        return None
    return await asyncio.to_thread(render_chart, report)  # ~0.2 s of matplotlib: off the loop


async def run(
    sessions: async_sessionmaker[AsyncSession], policy: Policy, now: datetime, days: int = 1
) -> ReportResult:
    """Queue the report of the ``days`` local days up to yesterday."""
    period = Period.ending(day_of(policy, now) - timedelta(days=1), days, policy.timezone)
    name = f"report:{days}d:{period.first.isoformat()}"
    rows = []
    for key, group in policy.config.groups.items():
        if group.robot_key is None:
            continue  # no chat to post in
        async with sessions() as session:
            await begin_reading(session)
            report = await load_report(session, policy, period, now, [key])
        text = render_report(report, now, WEBHOOK_MARKDOWN_MAX_BYTES)
        chart = await _chart(policy, report)
        rows.append(
            notice_row(f"{name}:group:{key}", "report", ("group", key), text, now, image=chart)
        )
    supervisors = sorted({g.supervisor for g in policy.config.groups.values() if g.supervisor})
    if supervisors:
        async with sessions() as session:
            await begin_reading(session)
            report = await load_report(session, policy, period, now)
        text = render_report(report, now, APP_MARKDOWN_MAX_BYTES)
        chart = await _chart(policy, report)
        rows += [
            notice_row(f"{name}:user:{u}", "report", ("user", u), text, now, image=chart)
            for u in supervisors
        ]
    async with sessions.begin() as session:
        await queue_messages(session, rows)
    return ReportResult(prepared=len(rows))
