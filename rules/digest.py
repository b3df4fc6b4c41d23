"""Many notifications for one chat become few messages: a summary, then compact lines, and when
even those would exceed what WeCom lets us send this minute, a CSV file with every order.

Pure: takes facts and limits, returns the text and file to send.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from rules.durations import format_duration
from rules.money import format_fen
from rules.render import (
    CHANNEL_LABELS,
    AlertFacts,
    ResolutionFacts,
    local_time,
    render_alert,
    render_resolution,
)
from rules.stages import Stage
from rules.text_split import split_text

Facts = AlertFacts | ResolutionFacts


@dataclass(frozen=True, slots=True)
class Digest:
    """What to send to one chat: texts in order, then images (PNG), then a CSV (or None)."""

    texts: tuple[str, ...]
    attachment: bytes | None = None
    attachment_name: str | None = None
    images: tuple[bytes, ...] = ()


def _utf8(text: str) -> int:
    return len(text.encode())


def ticket_line(facts: Facts, now: datetime) -> str:
    """One ticket on one line, for digests and ticket lists."""
    if isinstance(facts, ResolutionFacts):
        return (
            f"✅ #{facts.ticket_id} {facts.order_no} 已进入「{Stage(facts.stage).label}」, 自动关闭"
        )
    level = "" if facts.level == 1 else f"[升级{facts.level}] "
    if facts.reminder:
        level = "[提醒] " + level
    owner = f" 处理人 {facts.owner}" if facts.owner else f" → 认领 {facts.ticket_id}"
    channel = CHANNEL_LABELS.get(facts.channel, facts.channel)
    return (
        f"{level}#{facts.ticket_id} {facts.order_no} {channel}"
        f" {Stage(facts.stage).label} 超时{format_duration(now - facts.deadline_at)}"
        f" {format_fen(facts.amount_fen)} {facts.region}{owner}"
    )


def summary(items: Sequence[Facts], now: datetime) -> str:
    """How many, of what kind, in which stages, and the oldest: readable before any detail."""
    alerts = [f for f in items if isinstance(f, AlertFacts)]
    closed = len(items) - len(alerts)
    escalated = sum(1 for f in alerts if f.level > 1)
    head = f"⏰ 超时工单 {len(alerts)} 张"
    parts = [f"其中升级 {escalated} 张"] if escalated else []
    if closed:
        parts.append(f"已自动关闭 {closed} 张")
    lines = [head + (f" ({', '.join(parts)})" if parts else "")]
    if alerts:
        stages = Counter(Stage(f.stage).label for f in alerts)
        lines.append("阶段: " + ", ".join(f"{label} {n}" for label, n in stages.most_common()))
        oldest = min(alerts, key=lambda f: f.deadline_at)
        lines.append(
            f"最早: #{oldest.ticket_id} {oldest.order_no} 已超时 "
            f"{format_duration(now - oldest.deadline_at)}"
        )
    return "\n".join(lines)


def _pack(lines: Sequence[str], limit_bytes: int) -> list[str]:
    """Lines into as few texts as fit the byte limit, splitting only a line too long alone."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    pieces = (piece for whole in lines for piece in split_text(whole, limit_bytes) or [""])
    for line in pieces:
        cost = _utf8(line) + (1 if current else 0)
        if current and size + cost > limit_bytes:
            chunks.append("\n".join(current))
            current, size = [], 0
            cost = _utf8(line)
        current.append(line)
        size += cost
    if current:
        chunks.append("\n".join(current))
    return chunks


def to_csv(items: Sequence[Facts], now: datetime, tz: ZoneInfo) -> bytes:
    """Every notification as a spreadsheet row; UTF-8 with BOM so Excel shows Chinese."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "工单",
            "订单号",
            "渠道",
            "阶段",
            "超时",
            "金额",
            "地区",
            "处理组",
            "分派原因",
            "截止",
            "状态",
        ]
    )
    for f in items:
        if isinstance(f, ResolutionFacts):
            writer.writerow(
                [
                    f.ticket_id,
                    f.order_no,
                    "",
                    Stage(f.stage).label,
                    "",
                    "",
                    "",
                    "",
                    "",
                    local_time(f.deadline_at, tz),
                    "已自动关闭",
                ]
            )
            continue
        writer.writerow(
            [
                f.ticket_id,
                f.order_no,
                CHANNEL_LABELS.get(f.channel, f.channel),
                Stage(f.stage).label,
                format_duration(now - f.deadline_at),
                format_fen(f.amount_fen),
                f.region,
                f.group_name,
                f.route_reason,
                local_time(f.deadline_at, tz),
                f"第{f.level}级" + (f" 处理人 {f.owner}" if f.owner else ""),
            ]
        )
    return out.getvalue().encode("utf-8-sig")


def build_digest(
    items: Sequence[Facts],
    now: datetime,
    tz: ZoneInfo,
    *,
    limit_bytes: int,
    budget: int,
    mention: str = "",
    allow_file: bool = True,
) -> Digest | None:
    """The fewest messages that show every item, within ``budget`` messages; None if even the
    smallest form (summary + file, where files are allowed) does not fit the budget now."""
    if not items:
        return None
    if len(items) == 1:
        only = items[0]
        text = (
            render_resolution(only)
            if isinstance(only, ResolutionFacts)
            else render_alert(only, now, tz)
        )
        texts = _pack([*text.split("\n"), *([mention] if mention else [])], limit_bytes)
        return Digest(tuple(texts)) if len(texts) <= budget else None
    ordered = sorted(items, key=lambda f: (isinstance(f, ResolutionFacts), f.deadline_at))
    head = summary(ordered, now) + (f"\n{mention}" if mention else "")
    chunks = _pack([head, *(ticket_line(f, now) for f in ordered)], limit_bytes)
    if len(chunks) <= budget:
        return Digest(tuple(chunks))
    if budget < 2 or not allow_file:
        return None
    note = f"{head}\n共 {len(ordered)} 条, 消息额度不足以逐条发送, 明细见随后的文件"
    name = f"超时工单_{now.astimezone(tz):%Y%m%d_%H%M%S}.csv"
    return Digest(tuple(_pack(note.split("\n"), limit_bytes)), to_csv(ordered, now, tz), name)
