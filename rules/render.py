"""Notification text, Chinese first.

Rendering happens when a message is delivered, not when it is queued, from the ticket and order
as they are then: "overdue by", "time to escalation" and the owner are true when people read them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from rules.durations import format_duration
from rules.kinds import KINDS, Kind
from rules.money import format_fen
from rules.stages import Stage


def escalation_name(level: int) -> str:
    """An escalation level as people count escalations: level 1 is the alert itself, so
    level 2 is the first escalation (never "第2级" with no 第1级 ever seen)."""
    return f"第{level - 1}次升级"


def overdue_words(deadline_at: datetime, now: datetime, prefix: str = "已超时 ") -> str:
    """How long past the deadline: ``已超时 2小时5分``, or ``刚刚超时`` in the first minute
    (a fresh alert never says "已超时 0秒")."""
    late = now - deadline_at
    return "刚刚超时" if late < timedelta(minutes=1) else prefix + format_duration(late)


@dataclass(frozen=True, slots=True)
class OrderNotes:
    """What a handler needs besides the stage to act on an order: what was bought, what the
    buyer and the seller wrote, the parcels, the platform's own ship-by and why it is held."""

    items: tuple[str, ...] = ()  # "title ×quantity", in item order
    buyer_message: str | None = None
    seller_memo: str | None = None
    waybills: tuple[str, ...] = ()  # "carrier tracking number"
    ship_by_at: datetime | None = None
    hold_reason: str | None = None


ITEMS_SHOWN = 5  # items listed before "…共 N 种"
ALERT_TEXT_LIMIT = 100  # characters of a buyer message, memo or hold reason in an alert
# A mainland mobile number in free text (buyers write theirs into messages), however spaced.
_MOBILE_IN_TEXT = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?(1[3-9]\d)[\s-]?\d{4}[\s-]?(\d{4})(?!\d)")


def masked_text(text: str, limit: int) -> str:
    """Free text people wrote, one line, phone numbers masked, cut to ``limit`` characters."""
    flat = " ".join(_MOBILE_IN_TEXT.sub(r"\1****\2", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def notes_lines(notes: OrderNotes, tz: ZoneInfo, text_limit: int) -> list[str]:
    """The notes as lines, leaving out what the order does not have."""
    lines = []
    if notes.hold_reason:
        lines.append(f"暂停原因: {masked_text(notes.hold_reason, text_limit)}")
    if notes.items:
        more = f" …共 {len(notes.items)} 种" if len(notes.items) > ITEMS_SHOWN else ""
        lines.append(f"商品: {'、'.join(notes.items[:ITEMS_SHOWN])}{more}")
    if notes.ship_by_at is not None:
        lines.append(f"平台最晚发货: {local_time(notes.ship_by_at, tz)}")
    if notes.waybills:
        lines.append(f"运单: {'、'.join(notes.waybills)}")
    for label, text in (("买家留言", notes.buyer_message), ("卖家备注", notes.seller_memo)):
        if text:
            lines.append(f"{label}: {masked_text(text, text_limit)}")
    return lines


@dataclass(frozen=True, slots=True)
class AlertFacts:
    """What an alert or escalation says (an overdue one unless ``kind`` says otherwise)."""

    ticket_id: int
    order_no: str
    channel_label: str  # as people call it (抖店, not douyin)
    stage: str
    amount_fen: int
    region: str
    group_name: str
    route_reason: str
    deadline_at: datetime
    level: int
    owner: str | None
    next_escalation_at: datetime | None
    reminder: bool = False  # a repeat of the alert for a ticket still open
    routing_paused: bool = False  # routed to triage while auto-routing was paused (route_reason)
    notes: OrderNotes | None = None  # loaded for an alert shown on its own, not a digest line
    kind: str = Kind.OVERDUE
    summary: str | None = None  # what a ticket of another kind says happened


@dataclass(frozen=True, slots=True)
class ResolutionFacts:
    """What the notice of a ticket that closed itself says."""

    ticket_id: int
    order_no: str
    stage: str
    deadline_at: datetime
    resolved_at: datetime | None  # when the order entered its next stage
    kind: str = Kind.OVERDUE


def local_time(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%m-%d %H:%M")


def region_of(province: str | None, city: str | None, district: str | None) -> str:
    parts = [p for p in (province, city, district) if p]
    # Municipalities repeat themselves (上海市/上海市/浦东新区).
    unique = [p for i, p in enumerate(parts) if p not in parts[:i]]
    return "".join(unique) or "地区未知"


def kind_state(facts: AlertFacts) -> str:
    """What a ticket other than an overdue one is about: its own text, or its kind's label."""
    return facts.summary or KINDS[Kind(facts.kind)].label


def render_alert(facts: AlertFacts, now: datetime, tz: ZoneInfo) -> str:
    """The alert for the handler group (level 1) or the supervisor (level 2+): an overdue
    one says how late the stage is, another kind its own headline and text."""
    overdue = facts.kind == Kind.OVERDUE
    info = KINDS[Kind(facts.kind)]
    if facts.reminder:
        head = "🔔 仍未处理"
    elif facts.level == 1:
        head = info.headline
    else:
        head = f"🚨 {info.label}{escalation_name(facts.level)}"
    if overdue:
        state = (
            f"状态: {Stage(facts.stage).label}, {overdue_words(facts.deadline_at, now)}"
            f" (截止 {local_time(facts.deadline_at, tz)})"
        )
    else:
        state = f"情况: {kind_state(facts)}"
    lines = [
        f"{head} 工单 #{facts.ticket_id}",
        f"订单: {facts.order_no} ({facts.channel_label})",
        state,
        f"金额: {format_fen(facts.amount_fen)}  地区: {facts.region}",
        f"分派: {facts.group_name} ({facts.route_reason})",
    ]
    if facts.notes is not None:
        lines += notes_lines(facts.notes, tz, ALERT_TEXT_LIMIT)
    if facts.owner:
        lines.append(f"处理人: {facts.owner}")
    else:
        lines.append(f"回复「认领 {facts.ticket_id}」认领此工单")
    if facts.next_escalation_at is not None:
        lines.append(f"{format_duration(facts.next_escalation_at - now)}后升级至主管")
    return "\n".join(lines)


def what_closed(facts: ResolutionFacts) -> str:
    """What closed the ticket, after the order's number: ``已进入「仓库拣货中」``, or for a
    stall whose order is still shipped, its parcel moving (a new scan)."""
    if facts.kind == Kind.STALL and facts.stage == Stage.SHIPPED:
        return "的包裹有了新的物流扫描"
    return f"已进入「{Stage(facts.stage).label}」"


def render_resolution(facts: ResolutionFacts) -> str:
    """The notice that a ticket closed itself because the order (or its parcel) moved on."""
    moved = f"✅ 工单 #{facts.ticket_id} 已自动关闭: 订单 {facts.order_no} {what_closed(facts)}"
    if facts.kind != Kind.OVERDUE or facts.resolved_at is None:
        return moved
    return f"{moved}(超时 {format_duration(facts.resolved_at - facts.deadline_at)})"


# What finishing each watched stage means to a customer, for "预计…内<verb>".
_STAGE_GOALS = {
    Stage.DEPOSIT_PAID: "付尾款",
    Stage.PAID: "开始拣货",
    Stage.PICKING: "完成拣货",
    Stage.SHIPPED: "送达",
}


def stage_in_words(stage: str, deadline_at: datetime | None, now: datetime) -> str:
    """The stage as customer service can say it: ``仓库拣货中(预计2小时内完成拣货)``, or how far
    past the promise it is."""
    current = Stage(stage)
    if deadline_at is None or current not in _STAGE_GOALS:
        return current.label
    if deadline_at > now:
        return f"{current.label}(预计{format_duration(deadline_at - now)}内{_STAGE_GOALS[current]})"
    return f"{current.label}(已超出承诺时间{format_duration(now - deadline_at)})"
