"""Figures in the chat: a short SLA summary of a day."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from handlers.refs import groups_of
from handlers.registry import ANYONE, CommandContext, CommandRouter, UsageError
from rules.durations import format_duration
from rules.report import Spread, day_bounds, summarize
from storage import commands as db

router = CommandRouter()

_DAYS = {"today": 0, "今天": 0, "今日": 0, "yesterday": 1, "昨天": 1, "昨日": 1}


def _spread(spread: Spread) -> str:
    if spread.median is None or spread.p90 is None:
        return "-"
    return f"中位 {format_duration(spread.median)} / P90 {format_duration(spread.p90)}"


@router.command("报表", "report", usage="报表 [今天|昨天]", roles={ANYONE})
async def report(ctx: CommandContext, args: list[str]) -> str:
    """某天超时工单的简要统计: 新开、认领、关闭、升级及用时

    统计当天新开的工单 (按北京时间), 默认今天。处理组成员和主管看本组, 其他角色看全部。
    """
    word = args[0].lower() if args else "today"
    if word not in _DAYS:
        raise UsageError(f"不认识的日期「{args[0]}」")
    config = ctx.policy.config
    tz = ZoneInfo(config.watch.timezone)
    day = ctx.now.astimezone(tz).date() - timedelta(days=_DAYS[word])
    start, end = day_bounds(day, tz)
    keys = groups_of(config, ctx.user) or list(config.groups)
    async with ctx.sessions() as session:
        summary = summarize(await db.tickets_opened_between(session, keys, start, end))
    scope = "、".join(ctx.policy.group(k).name for k in keys)
    label = "今天" if _DAYS[word] == 0 else "昨天"
    return "\n".join(
        [
            f"📊 {label} ({day:%m-%d}) {scope} 超时工单",
            f"新开 {summary.opened} 张, 已认领 {summary.claimed}, "
            f"已关闭 {summary.resolved} (其中手动 {summary.resolved_by_hand}), "
            f"升级至主管 {summary.escalated}, 仍未关闭 {summary.still_open}",
            f"认领用时: {_spread(summary.time_to_claim)}",
            f"关闭用时: {_spread(summary.time_to_resolve)}",
        ]
    )
