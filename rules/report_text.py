"""An SLA report as one WeCom markdown message: the headline figures, the change against the
previous period, the worst stages, channels, regions and groups, the busiest handlers and the
oldest open tickets, cut to fit the chat's byte limit; or in full, every list whole, for
``orderbot report``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from rules.durations import format_duration
from rules.report import Attainment, Report, Spread
from rules.text_split import utf8_len

# How many lines each list may show, tried in turn until the message fits.
_LIST_SIZES = (5, 3, 2, 1, 0)
Size = int | None  # lines a list may show; None: all of them


def _rate(rate: float | None) -> str:
    return f"{rate:.1%}" if rate is not None else "-"


def _points(now: float | None, before: float | None) -> str:
    """The change of a rate in percentage points, e.g. ``↑1.2``."""
    if now is None or before is None:
        return ""
    delta = (now - before) * 100
    if abs(delta) < 0.05:
        return " (持平)"
    return f" ({'↑' if delta > 0 else '↓'}{abs(delta):.1f} 个百分点)"


def _count(now: int, before: int) -> str:
    if now == before:
        return f"{now}"
    return f"{now} ({'↑' if now > before else '↓'}{abs(now - before)})"


def _spread(spread: Spread) -> str:
    if spread.median is None or spread.p90 is None:
        return "-"
    return f"中位 {format_duration(spread.median)} / P90 {format_duration(spread.p90)}"


class _Style:
    """Markdown for robot and app markdown messages; plain text for chat replies."""

    def __init__(self, markdown: bool) -> None:
        self.markdown = markdown

    def title(self, text: str) -> str:
        return f"### {text}" if self.markdown else text

    def bold(self, text: str) -> str:
        return f"**{text}**" if self.markdown else text

    def quote(self, text: str) -> str:
        return f"> {text}" if self.markdown else text


def _cut(items: Sequence[object], size: Size) -> bool:
    """Whether a list of ``items`` shows fewer than all of them."""
    return size is not None and len(items) > size


def _attainments(style: _Style, title: str, lines: Sequence[Attainment], size: Size) -> list[str]:
    if not lines or size == 0:
        return []
    shown = " · ".join(f"{a.name} {_rate(a.rate)} ({a.due})" for a in lines[:size])
    more = f" …等 {len(lines)} 项" if _cut(lines, size) else ""
    return [f"{style.bold(title)} {shown}{more}"]


def _body(report: Report, size: Size, now: datetime, style: _Style) -> str:
    s, p = report.summary, report.previous
    kind = "日报" if report.period.days == 1 else f"{report.period.days}日报"
    lines = [
        style.title(f"📊 SLA {kind} {report.period.label} · {report.scope}"),
        style.quote(
            f"达标率 {style.bold(_rate(report.overall.rate))}"
            f"{_points(report.overall.rate, report.previous_overall.rate)}"
            f" · 应达标 {report.overall.due} · 超时 {report.overall.missed}"
        ),
        style.quote(
            f"新开工单 {_count(s.opened, p.opened)}, 其中仍未关闭 {s.still_open}"
            f" · 认领 {s.claimed} · 关闭 {s.resolved} (手动 {s.resolved_by_hand})"
            f" · 升级主管 {_count(s.escalated, p.escalated)}"
        ),
        style.quote(f"认领用时 {_spread(s.time_to_claim)} · 关闭用时 {_spread(s.time_to_resolve)}"),
    ]
    lines += _attainments(style, "按环节", report.by_stage, size)
    lines += _attainments(style, "按渠道", report.by_channel, size)
    lines += _attainments(style, "按地区 (最差在前)", report.by_region, size)
    if len(report.by_group) > 1:
        lines += _attainments(style, "按处理组 (最差在前)", report.by_group, size)
    if report.handlers and size != 0:
        shown = " · ".join(
            f"{h.user} 关闭 {h.resolved}/{h.claimed} {_spread(h.time_to_resolve)}"
            for h in report.handlers[:size]
        )
        more = f" …共 {len(report.handlers)} 人" if _cut(report.handlers, size) else ""
        lines.append(f"{style.bold('处理人')} {shown}{more}")
    if report.open_now:
        # All open tickets of these groups, whatever period they opened in.
        heading = f"当前全部未关闭工单 {report.open_now} 张 (不限本期)"
        lines.append(style.bold(heading + (", 最久的:" if size is not None else ":")))
        for t in report.oldest_open[:size]:
            overdue = format_duration(max(now - t.deadline_at, timedelta(0)))
            owner = t.owner or "未认领"
            lines.append(f"#{t.ticket_id} {t.order_no} {t.group} {t.stage} 超时{overdue} {owner}")
    return "\n".join(lines)


def render_report(report: Report, now: datetime, limit_bytes: int, *, markdown: bool = True) -> str:
    """The report in at most ``limit_bytes`` (lists shortened as needed), as WeCom markdown
    or as plain text for a chat reply."""
    style = _Style(markdown)
    for size in _LIST_SIZES:
        text = _body(report, size, now, style)
        if utf8_len(text) <= limit_bytes:
            return text
    raise ValueError(f"报表标题部分已超过 {limit_bytes} 字节")


def render_full_report(report: Report, now: datetime) -> str:
    """The report as markdown with every list whole (as many open tickets as were loaded)."""
    return _body(report, None, now, _Style(markdown=True))
