"""Many notifications for one chat become few messages: a summary, then compact lines, and when
even those would exceed what WeCom lets us send this minute, a CSV file with every order.

A ticket shows once however many of its notifications are pending (an alert and a reminder
queued together are one line), and every count is of distinct tickets. Each message says which
notifications it delivers, so the sender can record each one as WeCom accepts it.

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
from rules.kinds import KINDS, Kind
from rules.money import format_fen
from rules.render import (
    AlertFacts,
    ResolutionFacts,
    escalation_name,
    kind_state,
    local_time,
    overdue_words,
    render_alert,
    render_resolution,
    what_closed,
)
from rules.stages import Stage
from rules.text_split import split_text

Facts = AlertFacts | ResolutionFacts


@dataclass(frozen=True, slots=True)
class Part:
    """One message of a digest: markdown ``text``, or the CSV file when ``text`` is None.
    ``covers`` are the items it delivers, by their index in the list given to ``build_digest``."""

    covers: tuple[int, ...]
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Digest:
    """What to send to one chat, message by message; the file part carries ``attachment``."""

    parts: tuple[Part, ...]
    attachment: bytes | None = None
    attachment_name: str | None = None

    @property
    def texts(self) -> tuple[str, ...]:
        return tuple(part.text for part in self.parts if part.text is not None)


def _utf8(text: str) -> int:
    return len(text.encode())


def ticket_line(facts: Facts, now: datetime) -> str:
    """One ticket on one line, for digests and ticket lists."""
    if isinstance(facts, ResolutionFacts):
        return f"✅ #{facts.ticket_id} {facts.order_no} {what_closed(facts)}, 自动关闭"
    level = "" if facts.level == 1 else f"[{escalation_name(facts.level)}] "
    if facts.reminder:
        level = "[提醒] " + level
    owner = f" 处理人 {facts.owner}" if facts.owner else f" → 认领 {facts.ticket_id}"
    if facts.kind == Kind.OVERDUE:
        state = f"{Stage(facts.stage).label} {overdue_words(facts.deadline_at, now, prefix='超时')}"
    else:
        state = f"{KINDS[Kind(facts.kind)].label}: {kind_state(facts)}"
    return (
        f"{level}#{facts.ticket_id} {facts.order_no} {facts.channel_label}"
        f" {state} {format_fen(facts.amount_fen)} {facts.region}{owner}"
    )


def summary(items: Sequence[Facts], now: datetime) -> str:
    """How many tickets, of what kind, in which stages, the oldest, and why any are in the
    triage group: readable before any detail. Counts are of distinct tickets."""
    tickets = [facts for facts, _ in _distinct(items)]
    alerts = [f for f in tickets if isinstance(f, AlertFacts)]
    closed = len(tickets) - len(alerts)
    escalated = sum(1 for f in alerts if f.level > 1)
    if not alerts:  # only closures: nothing is overdue any more
        return f"✅ 已自动关闭工单 {closed} 张"
    overdue = [f for f in alerts if f.kind == Kind.OVERDUE]
    others = Counter(KINDS[Kind(f.kind)].label for f in alerts if f.kind != Kind.OVERDUE)
    if others:
        kinds = ([f"超时 {len(overdue)}"] if overdue else []) + [
            f"{label} {n}" for label, n in others.most_common()
        ]
        head = f"⚠️ 工单 {len(alerts)} 张: {', '.join(kinds)}"
    else:
        head = f"⏰ 超时工单 {len(alerts)} 张"
    parts = [f"其中升级 {escalated} 张"] if escalated else []
    if closed:
        parts.append(f"已自动关闭 {closed} 张")
    lines = [head + (f" ({', '.join(parts)})" if parts else "")]
    if overdue:
        stages = Counter(Stage(f.stage).label for f in overdue)
        lines.append("阶段: " + ", ".join(f"{label} {n}" for label, n in stages.most_common()))
        oldest = min(overdue, key=lambda f: f.deadline_at)
        lines.append(
            f"最早: #{oldest.ticket_id} {oldest.order_no} {overdue_words(oldest.deadline_at, now)}"
        )
    paused = Counter(f.route_reason for f in alerts if f.routing_paused)
    lines.extend(f"⚠️ {reason}: {n} 张" for reason, n in paused.most_common())
    return "\n".join(lines)


def _rank(facts: Facts) -> tuple[int, int]:
    """Which of a ticket's pending notifications speaks for it: a closure, else the highest
    level, an alert or escalation before a reminder of it."""
    if isinstance(facts, ResolutionFacts):
        return (2, 0)
    return (0 if facts.reminder else 1, facts.level)


def _distinct(items: Sequence[Facts]) -> list[tuple[Facts, tuple[int, ...]]]:
    """One entry per ticket, in order of first appearance: the notification that speaks for it,
    and the indices of all of its notifications."""
    by_ticket: dict[int, list[int]] = {}
    for index, facts in enumerate(items):
        by_ticket.setdefault(facts.ticket_id, []).append(index)
    return [
        (max((items[i] for i in indices), key=_rank), tuple(indices))
        for indices in by_ticket.values()
    ]


def _pack(lines: Sequence[str], limit_bytes: int) -> list[tuple[str, tuple[int, ...]]]:
    """Lines into as few texts as fit the byte limit, splitting only a line too long alone.
    With each text, the indices of the lines that end in it."""
    chunks: list[tuple[str, tuple[int, ...]]] = []
    current: list[str] = []
    ended: list[int] = []
    size = 0
    for index, whole in enumerate(lines):
        pieces = split_text(whole, limit_bytes) or [""]
        for piece in pieces:
            cost = _utf8(piece) + (1 if current else 0)
            if current and size + cost > limit_bytes:
                chunks.append(("\n".join(current), tuple(ended)))
                current, ended, size = [], [], 0
                cost = _utf8(piece)
            current.append(piece)
            size += cost
        ended.append(index)
    if current:
        chunks.append(("\n".join(current), tuple(ended)))
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
                f.channel_label,
                Stage(f.stage).label,
                format_duration(now - f.deadline_at) if f.kind == Kind.OVERDUE else "",
                format_fen(f.amount_fen),
                f.region,
                f.group_name,
                f.route_reason,
                local_time(f.deadline_at, tz),
                ("告警" if f.level == 1 else escalation_name(f.level))
                + (f" 处理人 {f.owner}" if f.owner else "")
                + ("" if f.kind == Kind.OVERDUE else f" ({KINDS[Kind(f.kind)].label})"),
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
    """The fewest messages that show every ticket, within ``budget`` messages: the summary (the
    total said once) and one line per ticket, or the summary and a CSV file when the lines
    would not fit; None if even that does not fit the budget now."""
    tickets = _distinct(items)
    if not tickets:
        return None
    if len(tickets) == 1:
        [(only, covers)] = tickets
        text = (
            render_resolution(only)
            if isinstance(only, ResolutionFacts)
            else render_alert(only, now, tz)
        )
        chunks = _pack([*text.split("\n"), *([mention] if mention else [])], limit_bytes)
        last = len(chunks) - 1
        parts = tuple(Part(covers if n == last else (), t) for n, (t, _) in enumerate(chunks))
        return Digest(parts) if len(parts) <= budget else None
    tickets.sort(key=lambda entry: (isinstance(entry[0], ResolutionFacts), entry[0].deadline_at))
    ordered = [facts for facts, _ in tickets]
    head = summary(ordered, now)
    lines = [ticket_line(f, now) for f in ordered]
    chunks = _in_parts(head, mention, lines, limit_bytes)
    if len(chunks) <= budget:
        return Digest(
            tuple(
                Part(tuple(i for n in ended if n > 0 for i in tickets[n - 1][1]), text)
                for text, ended in chunks
            )
        )
    if budget < 2 or not allow_file:
        return None
    total = f"共 {len(ordered)} 张, 消息额度不足以逐条发送, 明细见随后的文件"
    note = f"{_with_mention(head, mention)}\n{total}"
    name = f"超时工单_{now.astimezone(tz):%Y%m%d_%H%M%S}.csv"
    notes = tuple(Part((), text) for text, _ in _pack(note.split("\n"), limit_bytes))
    every = tuple(i for _, covers in tickets for i in covers)
    return Digest((*notes, Part(every)), to_csv(ordered, now, tz), name)


def _with_mention(head: str, mention: str) -> str:
    return head + (f"\n{mention}" if mention else "")


def _in_parts(
    head: str, mention: str, lines: list[str], limit_bytes: int
) -> list[tuple[str, tuple[int, ...]]]:
    """The summary, then the lines, packed; when they take several messages the summary says
    how many (``共 N 张, 分 K 条发送``), which may take one more, so pack until it holds.
    Index 0 is the summary, line n is index n + 1."""
    parts = 1
    while True:
        told = head if parts == 1 else f"{head}\n共 {len(lines)} 张, 分 {parts} 条发送"
        chunks = _pack([_with_mention(told, mention), *lines], limit_bytes)
        if len(chunks) == parts:
            return chunks
        parts = len(chunks)
