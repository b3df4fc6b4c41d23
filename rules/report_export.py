"""An SLA report in full, for performance reviews (the chat message is cut to fit; this is
not): an XLSX workbook with one sheet per section, or the same sections as one CSV.

Both hold the same tables. Rates are fractions 0–1 (percent-formatted in the XLSX, rounded to
4 decimals in the CSV: ``0.4741`` is 47.41%), durations are minutes rounded to 0.01, times are
naive datetimes in the report's time zone, and a missing rate or duration is an empty cell.

CSV layout (UTF-8 with a BOM, so Excel reads the Chinese): the sections one after another in
the workbook's sheet order, each as a row holding only its title (the sheet name), its header
row, then its data rows, and one empty row between sections. No data row is empty, so a reader
splits the file on empty rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from rules.report import Attainment, Report, Summary

Cell = str | int | float | date | None  # a datetime is a date


class _Rate(float):
    """A fraction 0–1 that the XLSX shows as a percentage."""


@dataclass(frozen=True)
class _Section:
    title: str
    header: tuple[str, ...]
    rows: list[tuple[Cell, ...]]


def _rate(rate: float | None) -> _Rate | None:
    return None if rate is None else _Rate(rate)


def _minutes(delta: timedelta | None) -> float | None:
    return None if delta is None else round(delta.total_seconds() / 60, 2)


def _change(now: Cell, before: Cell) -> Cell:
    if isinstance(now, _Rate) and isinstance(before, _Rate):
        return _Rate(round(now - before, 10))  # no float noise like -0.15000000000000002
    if isinstance(now, int) and isinstance(before, int):
        return now - before
    if isinstance(now, float) and isinstance(before, float):
        return round(now - before, 2)
    return None


def _overview(report: Report) -> _Section:
    def figures(summary: Summary, overall: Attainment) -> list[tuple[str, Cell]]:
        return [
            ("达标率", _rate(overall.rate)),
            ("应达标", overall.due),
            ("达标", overall.met),
            ("超时", overall.missed),
            ("新开工单", summary.opened),
            ("认领", summary.claimed),
            ("关闭", summary.resolved),
            ("手动关闭", summary.resolved_by_hand),
            ("升级主管", summary.escalated),
            ("新开工单中仍未关闭", summary.still_open),
            ("认领用时中位 (分钟)", _minutes(summary.time_to_claim.median)),
            ("认领用时 P90 (分钟)", _minutes(summary.time_to_claim.p90)),
            ("关闭用时中位 (分钟)", _minutes(summary.time_to_resolve.median)),
            ("关闭用时 P90 (分钟)", _minutes(summary.time_to_resolve.p90)),
        ]

    period, previous = report.period, report.period.previous
    rows: list[tuple[Cell, ...]] = [
        ("范围", report.scope, None, None),
        ("开始日期", period.first, previous.first, None),
        ("结束日期", period.last, previous.last, None),
    ]
    now = figures(report.summary, report.overall)
    before = figures(report.previous, report.previous_overall)
    rows += [(name, a, b, _change(a, b)) for (name, a), (_, b) in zip(now, before, strict=True)]
    rows.append(("当前全部未关闭工单", report.open_now, None, None))
    return _Section("概览", ("指标", "本期", "上期", "变化"), rows)


def _attainments(title: str, key: str, lines: Sequence[Attainment]) -> _Section:
    return _Section(
        title,
        (key, "应达标", "达标", "超时", "达标率"),
        [(a.name, a.due, a.met, a.missed, _rate(a.rate)) for a in lines],
    )


def _sections(report: Report) -> list[_Section]:
    tz = report.period.tz
    return [
        _overview(report),
        _attainments("按环节", "环节", report.by_stage),
        _attainments("按渠道", "渠道", report.by_channel),
        _attainments("按地区", "地区", report.by_region),
        _attainments("按处理组", "处理组", report.by_group),
        _Section(
            "处理人",
            ("处理人", "认领", "关闭", "关闭用时中位 (分钟)", "关闭用时 P90 (分钟)"),
            [
                (
                    h.user,
                    h.claimed,
                    h.resolved,
                    _minutes(h.time_to_resolve.median),
                    _minutes(h.time_to_resolve.p90),
                )
                for h in report.handlers
            ],
        ),
        _Section(
            "未关闭工单",
            ("工单号", "订单号", "处理组", "环节", "截止时间", "处理人"),
            [
                (
                    t.ticket_id,
                    t.order_no,
                    t.group,
                    t.stage,
                    t.deadline_at.astimezone(tz).replace(tzinfo=None),
                    t.owner,
                )
                for t in report.oldest_open
            ],
        ),
        _Section("每日达标率", ("日期", "达标率"), [(d, _rate(r)) for d, r in report.daily]),
        _Section("每小时新开", ("小时", "新开工单"), list(enumerate(report.opened_by_hour))),
    ]


CSV_RATE_DECIMALS = 4


def _csv_cell(value: Cell) -> Cell:
    return round(value, CSV_RATE_DECIMALS) if isinstance(value, _Rate) else value


def report_csv(report: Report) -> bytes:
    """All sections as one CSV (layout in the module docstring)."""
    text = io.StringIO()
    writer = csv.writer(text)
    for number, section in enumerate(_sections(report)):
        if number:
            writer.writerow([])
        writer.writerow([section.title])
        writer.writerow(section.header)
        writer.writerows([_csv_cell(value) for value in row] for row in section.rows)
    return text.getvalue().encode("utf-8-sig")


def _number_format(value: Cell) -> str | None:
    if isinstance(value, _Rate):
        return "0.0%"
    if isinstance(value, float):
        return "0.00"
    if isinstance(value, datetime):
        return "yyyy-mm-dd hh:mm"
    if isinstance(value, date):
        return "yyyy-mm-dd"
    return None


def _width(value: Cell) -> int:
    """Roughly how many character widths Excel needs: CJK counts double."""
    if isinstance(value, _Rate):
        return 6
    if isinstance(value, datetime):
        return 16
    if isinstance(value, date):
        return 10
    text = "" if value is None else str(value)
    return sum(2 if ord(c) > 0x2E7F else 1 for c in text)


def report_xlsx(report: Report) -> bytes:
    """All sections as an XLSX workbook, one sheet each, header row bold and frozen."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    bold = Font(bold=True)
    for section in _sections(report):
        sheet = workbook.create_sheet(section.title)
        sheet.append(section.header)
        for cell in sheet[1]:
            cell.font = bold
        widths = [_width(title) for title in section.header]
        for row_number, row in enumerate(section.rows, start=2):
            for column, value in enumerate(row, start=1):
                plain = float(value) if isinstance(value, _Rate) else value
                cell = sheet.cell(row_number, column, plain)
                if cell.data_type == "f":  # text like an order number "=..." is no formula
                    cell.data_type = "s"
                if (number_format := _number_format(value)) is not None:
                    cell.number_format = number_format
                widths[column - 1] = max(widths[column - 1], _width(value))
        for column, width in enumerate(widths, start=1):
            sheet.column_dimensions[get_column_letter(column)].width = min(width + 2, 60)
        sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
