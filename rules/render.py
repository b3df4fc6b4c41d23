"""Notification text, Chinese first. Pure functions of the facts they are given."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from rules.durations import format_duration
from rules.money import format_fen
from rules.stages import Stage

CHANNEL_LABELS = {"taobao": "淘宝/天猫", "jd": "京东", "douyin": "抖店", "shop": "自营商城"}


@dataclass(frozen=True, slots=True)
class AlertFacts:
    ticket_id: int
    order_no: str
    channel: str
    stage: str
    amount_fen: int
    region: str
    group_name: str
    route_reason: str
    entered_at: datetime
    deadline_at: datetime
    level: int
    owner: str | None
    next_escalation_at: datetime | None


def local_time(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%m-%d %H:%M")


def region_of(province: str | None, city: str | None, district: str | None) -> str:
    parts = [p for p in (province, city, district) if p]
    # Municipalities repeat themselves (上海市/上海市/浦东新区).
    unique = [p for i, p in enumerate(parts) if p not in parts[:i]]
    return "".join(unique) or "地区未知"


def render_alert(facts: AlertFacts, now: datetime, tz: ZoneInfo) -> str:
    """The overdue alert for the handler group (level 1) or the supervisor (level 2+)."""
    overdue = format_duration(now - facts.deadline_at)
    head = "⏰ 订单超时" if facts.level == 1 else f"🚨 超时升级(第{facts.level}级)"
    lines = [
        f"{head} 工单 #{facts.ticket_id}",
        f"订单: {facts.order_no} ({CHANNEL_LABELS.get(facts.channel, facts.channel)})",
        f"状态: {Stage(facts.stage).label}, 已超时 {overdue}"
        f" (截止 {local_time(facts.deadline_at, tz)})",
        f"金额: {format_fen(facts.amount_fen)}  地区: {facts.region}",
        f"分派: {facts.group_name} ({facts.route_reason})",
    ]
    if facts.owner:
        lines.append(f"处理人: {facts.owner}")
    else:
        lines.append(f"回复「认领 {facts.ticket_id}」认领此工单")
    if facts.next_escalation_at is not None:
        left = format_duration(facts.next_escalation_at - now)
        lines.append(f"{left}后升级至主管")
    return "\n".join(lines)


def render_resolution(ticket_id: int, order_no: str, stage: str, late_by: str) -> str:
    """The notice that a ticket closed itself because the order moved on."""
    return (
        f"✅ 工单 #{ticket_id} 已自动关闭: 订单 {order_no} 已进入「{Stage(stage).label}」"
        f"(超时 {late_by})"
    )
