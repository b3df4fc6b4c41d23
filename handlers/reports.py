"""报表: the SLA report in the chat, the same report the daily job pushes."""

from __future__ import annotations

from datetime import timedelta

from adapters.wecom.messages import APP_TEXT_MAX_BYTES
from handlers.refs import group_by_name, groups_of
from handlers.registry import ANYONE, CommandContext, CommandRouter, UsageError
from rules.report import Period
from rules.report_text import render_report
from services.reports import day_of, load_report

router = CommandRouter()

# A period word: (days back to its last day, how many days).
_PERIODS = {
    "今天": (0, 1), "today": (0, 1),
    "昨天": (1, 1), "yesterday": (1, 1),
    "近7天": (0, 7), "7天": (0, 7), "week": (0, 7),
    "近30天": (0, 30), "30天": (0, 30), "month": (0, 30),
}  # fmt: skip


@router.command("报表", "report", usage="报表 [今天|昨天|近7天|近30天] [处理组]", roles={ANYONE})
async def report(ctx: CommandContext, args: list[str]) -> str:
    """SLA 报表: 达标率、新开/认领/关闭/升级工单及用时、最久未关闭的工单

    默认今天 (北京时间)。不写组时, 处理组成员和主管看本组, 其他角色看全部组。
    每天的完整报表由定时任务推送到各组; 导出明细用命令行 orderbot report。
    """
    words = list(args)
    back, days = _PERIODS.get(words[0].lower(), (None, None)) if words else (0, 1)
    if back is None or days is None:
        back, days = 0, 1
    else:
        words = words[1:]
    config = ctx.policy.config
    if words:
        key = group_by_name(config, words[0])
        if key is None or len(words) > 1:
            unknown = " ".join(words)
            raise UsageError(f"不认识「{unknown}」: 期间写 今天/昨天/近7天/近30天, 组写组名")
        keys: list[str] | None = [key]
    else:
        keys = groups_of(config, ctx.user) or None
    last = day_of(ctx.policy, ctx.now) - timedelta(days=back)
    period = Period.ending(last, days, ctx.policy.timezone)
    await ctx.done_writing()  # a month's report takes a while to build: no lock meanwhile
    result = await load_report(ctx.session, ctx.policy, period, ctx.now, keys)
    return render_report(result, ctx.now, APP_TEXT_MAX_BYTES, markdown=ctx.chat == "group")
