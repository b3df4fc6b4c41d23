"""Rule versions, diffs and previews in words (the CLI and the console say the same)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from services.rule_effects import Preview
from services.rulebook import Published, VersionView

STATUS = {"draft": "草稿", "published": "生效中", "superseded": "已被替换"}
SOURCE = {"file": "配置文件", "console": "控制台", "cli": "命令行", "rollback": "回滚"}


def version_line(view: VersionView, zone: ZoneInfo) -> str:
    when = view.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    note = f" · {view.note}" if view.note else ""
    return (
        f"第 {view.id} 版 · {STATUS.get(view.status, view.status)} · "
        f"{SOURCE.get(view.source, view.source)} · {view.author} · {when}{note}"
    )


def preview_lines(effects: Preview) -> list[str]:
    lines = [
        f"未结订单 {effects.open_orders} 个: {effects.new_deadlines} 个时限会改变, "
        f"其中 {effects.overdue_at_once} 个会立即超时",
        f"未关闭工单 {effects.open_tickets} 个: {effects.rerouted_count} 个按新规则会分到别的组",
    ]
    lines += [
        f"  工单 {r.ticket_id} (订单 {r.order_no}): {r.from_group} → {r.to_group} ({r.rule})"
        for r in effects.rerouted
    ]
    if effects.rerouted_count > len(effects.rerouted):
        lines.append(f"  … 另有 {effects.rerouted_count - len(effects.rerouted)} 个")
    return lines


def published_lines(published: Published) -> list[str]:
    moved = published.rescheduled
    lines = [f"第 {published.version_id} 版已生效 ({len(published.changes)} 处改动)"]
    lines += [f"  {change.text()}" for change in published.changes]
    lines.append(
        f"{moved.new_deadlines} 个未结订单的时限已重算, 其中 {moved.overdue_at_once} 个立即超时"
    )
    if published.told:
        lines.append(f"已通知运维: {'、'.join(published.told)}")
    return lines
