"""Ops commands: the health screen, and pausing or resuming auto-routing by hand."""

from __future__ import annotations

from channels.registry import LABELS
from handlers.registry import OPS, SUPERVISOR, CommandContext, CommandError, CommandRouter
from rules.durations import format_duration
from rules.freshness import StageLag, format_lag, source_label, summarize
from rules.health import evaluate
from rules.render import local_time
from services.config import HealthConfig
from storage.health import measure, pause_routing, resume_routing, routing_pause

router = CommandRouter()

_MARKS = {True: "⚠️", False: "✅", None: "…"}


@router.command("健康", "health", usage="健康", roles={OPS, SUPERVISOR})
async def health(ctx: CommandContext, args: list[str]) -> str:
    """一屏查看各项健康指标: 当前值、阈值和是否告警

    指标按 [health].window 滑动窗口计算; … 表示样本不足, 暂不判断。
    """
    policy = ctx.policy
    tz = policy.timezone
    measured = await measure(ctx.session, ctx.now, policy.config.health.window, policy.calendar)
    pause = await routing_pause(ctx.session)
    readings = evaluate(measured, policy.config.health, ctx.now, channel_labels=LABELS)
    failing = sum(1 for r in readings if r.failing)
    head = f"🩺 健康状况 ({local_time(ctx.now, tz)}): " + (
        f"{failing} 项告警" if failing else "全部正常"
    )
    lines = [head]
    lines += [f"{_MARKS[r.failing]} {r.label}: {r.value} (阈值 {r.threshold})" for r in readings]
    lines += _lag_lines(summarize(measured.lags), policy.config.health)
    if pause is None:
        lines.append("自动分单: 运行中")
    else:
        how = "自动暂停" if pause.mode == "auto" else f"{pause.actor} 手动暂停"
        lines.append(f"自动分单: {how}于 {local_time(pause.since, tz)} ({pause.reason})")
    return "\n".join(lines)


def _lag_lines(lags: dict[str, list[StageLag]], limits: HealthConfig) -> list[str]:
    """Each source's lag per stage over the window, p50 / p95 in words, beside its limit."""
    if not lags:
        return []
    lines = [f"数据时效 (近{format_duration(limits.window)}, 中位数 / p95):"]
    for source, stages in lags.items():
        for lag in stages:
            limit = format_lag(limits.lag_limit(source, lag.stage))
            lines.append(
                f"· {source_label(source)} {lag.label}: {format_lag(lag.p50)} / "
                f"{format_lag(lag.p95)} (阈值 {limit}, {lag.samples} 条)"
            )
    return lines


@router.command(
    "暂停分单", "pause-routing", usage="暂停分单 <原因...>", roles={OPS}, chats={"direct"}
)
async def pause(ctx: CommandContext, args: list[str]) -> str:
    """暂停自动分单: 新工单一律进入分拣组, 直到「恢复分单」

    例如分单规则或地址数据出错时使用。手动暂停不会被自动恢复。
    """
    reason = " ".join(args)
    triage = ctx.policy.group(ctx.policy.triage_group).name
    await pause_routing(ctx.session, "manual", reason, ctx.user, ctx.now)
    return f"已暂停自动分单, 新工单进入{triage}。恢复请发送「恢复分单」"


@router.command("恢复分单", "resume-routing", usage="恢复分单", roles={OPS}, chats={"direct"})
async def resume(ctx: CommandContext, args: list[str]) -> str:
    """恢复自动分单 (无论是手动还是自动暂停的)"""
    if not await resume_routing(ctx.session, ctx.now, ctx.user):
        raise CommandError("自动分单并未暂停")
    return "已恢复自动分单"
