"""The SLA report as files: the PNG chart and the CSV / XLSX exports."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from PIL import Image

from rules.report import Names, Period, Report, build_report
from rules.report_chart import MAX_IMAGE_BYTES, render_chart
from rules.report_export import report_csv, report_xlsx
from rules.report_text import render_report

TZ = ZoneInfo("Asia/Shanghai")
PERIOD = Period.ending(date(2024, 5, 7), 1, TZ)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Ticket:
    id: int
    opened_at: datetime
    group_key: str = "g1"
    stage: str = "ship"
    owner: str | None = None
    claimed_at: datetime | None = None
    resolved_at: datetime | None = None
    resolution: str | None = None
    level: int = 1
    channel: str = "taobao"
    province: str | None = "广东省"
    order_no: str = "TB1"

    @property
    def deadline_at(self) -> datetime:
        return self.opened_at - timedelta(minutes=5)


@dataclass(frozen=True)
class Met:
    day: str
    met: int
    stage: str = "ship"
    channel: str = "taobao"
    province: str = "广东省"
    group_key: str = "g1"


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment on 2024-05-<day> in Shanghai, as aware UTC like the database gives it."""
    return datetime(2024, 5, day, hour, minute, tzinfo=TZ).astimezone(UTC)


def wall(day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A Shanghai wall-clock time on 2024-05-<day> as the sheets hold it: naive."""
    return datetime(2024, 5, day, hour, minute, tzinfo=TZ).replace(tzinfo=None)


def ticket(
    id: int,
    opened: datetime,
    claim_after: int | None = None,
    resolve_after: int | None = None,
    **fields: object,
) -> Ticket:
    """A ticket claimed and resolved so many minutes after it opened (None: not yet)."""

    def minutes(n: int | None) -> datetime | None:
        return None if n is None else opened + timedelta(minutes=n)

    return Ticket(
        id, opened, claimed_at=minutes(claim_after), resolved_at=minutes(resolve_after), **fields
    )


NAMES = Names(
    stages={"ship": "待发货", "pack": "打包"}.__getitem__,
    channels={"taobao": "淘宝", "douyin": "抖音"}.__getitem__,
    groups=lambda key: f"组{key}",
)

TICKETS = [
    # The period, 05-07: claims after 10, 20, 30 minutes; closes after 40 and 60.
    ticket(1, local(7, 9, 10), 10, 40, owner="alice", resolution="manual"),
    ticket(2, local(7, 9, 30), 20, 60, owner="alice", resolution="auto", level=2),
    ticket(3, local(7, 14, 5), 30, owner="bob", level=2, stage="pack", channel="douyin"),
    ticket(4, local(7, 23, 50), province=None, order_no="DY9", channel="douyin"),
    # The previous period, 05-06.
    ticket(5, local(6, 10), 5, 15, owner="bob"),
    # Earlier in the trend.
    ticket(6, local(3, 8), 1, 2, owner="carol"),
]
MET = [
    Met("2024-05-07", 5),
    Met("2024-05-07", 1, stage="pack", channel="douyin"),
    Met("2024-05-06", 3),
    Met("2024-05-04", 2),
]


def make_report(
    tickets: Sequence[Ticket] = TICKETS,
    met: Sequence[Met] = MET,
    oldest_open: Sequence[Ticket] = (TICKETS[2], TICKETS[3]),
) -> Report:
    return build_report(
        scope="全部处理组",
        period=PERIOD,
        tickets=tickets,
        met=met,
        oldest_open=oldest_open,
        open_now=len(oldest_open),
        names=NAMES,
        now=datetime(2024, 5, 8, 12, tzinfo=TZ),
    )


def check_png(data: bytes) -> None:
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) < 200 * 1024 < MAX_IMAGE_BYTES
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        assert image.size == (1000, 400)


def sheet_rows(data: bytes) -> dict[str, list[tuple[object, ...]]]:
    workbook = load_workbook(io.BytesIO(data))
    return {s.title: list(s.iter_rows(values_only=True)) for s in workbook.worksheets}


def csv_sections(data: bytes) -> dict[str, list[list[str]]]:
    """Title -> [header, *rows], splitting the CSV on its empty rows."""
    assert data.startswith("\ufeff".encode())
    sections: dict[str, list[list[str]]] = {}
    block: list[list[str]] = []
    for row in [*csv.reader(io.StringIO(data.decode("utf-8-sig"))), []]:
        if row:
            block.append(row)
        elif block:
            sections[block[0][0]] = block[1:]
            block = []
    return sections


SHEETS = [
    "概览",
    "按环节",
    "按渠道",
    "按地区",
    "按处理组",
    "处理人",
    "未关闭工单",
    "每日达标率",
    "每小时新开",
]


def test_the_chart_is_a_small_png_of_the_expected_size() -> None:
    report = make_report()
    assert any(rate is None for _, rate in report.daily)  # gaps in the line
    check_png(render_chart(report))


def test_the_chart_is_deterministic() -> None:
    assert render_chart(make_report()) == render_chart(make_report())


def test_an_empty_report_still_renders() -> None:
    report = make_report(tickets=[], met=[], oldest_open=[])
    assert all(rate is None for _, rate in report.daily)
    check_png(render_chart(report))
    assert list(sheet_rows(report_xlsx(report))) == SHEETS
    overview = {row[0]: row[1:] for row in sheet_rows(report_xlsx(report))["概览"]}
    assert overview["达标率"] == (None, None, None)
    assert overview["关闭用时中位 (分钟)"] == (None, None, None)
    assert csv_sections(report_csv(report))["处理人"] == [
        ["处理人", "认领", "关闭", "关闭用时中位 (分钟)", "关闭用时 P90 (分钟)"]
    ]


def test_the_workbook_holds_every_section() -> None:
    sheets = sheet_rows(report_xlsx(make_report()))
    assert list(sheets) == SHEETS

    overview = {row[0]: row[1:] for row in sheets["概览"]}
    assert overview["指标"] == ("本期", "上期", "变化")
    assert overview["范围"] == ("全部处理组", None, None)
    assert overview["开始日期"][:2] == (wall(7), wall(6))
    # 6 met and 4 missed now, 3 met and 1 missed before.
    assert overview["达标率"] == (0.6, 0.75, -0.15)
    assert overview["应达标"] == (10, 4, 6)
    assert overview["新开工单"] == (4, 1, 3)
    assert overview["手动关闭"] == (1, 0, 1)
    assert overview["升级主管"] == (2, 0, 2)
    assert overview["新开工单中仍未关闭"] == (2, 0, 2)
    # Claims after 10, 20, 30 minutes: median 20, P90 at rank 1.8 = 28.
    assert overview["认领用时中位 (分钟)"] == (20, 5, 15)
    assert overview["认领用时 P90 (分钟)"] == (28, 5, 23)
    # Closes after 40 and 60 minutes: median 50, P90 58.
    assert overview["关闭用时中位 (分钟)"] == (50, 15, 35)
    assert overview["关闭用时 P90 (分钟)"] == (58, 15, 43)
    assert overview["当前全部未关闭工单"] == (2, None, None)

    assert sheets["按环节"] == [
        ("环节", "应达标", "达标", "超时", "达标率"),
        ("打包", 2, 1, 1, 0.5),
        ("待发货", 8, 5, 3, 0.625),
    ]
    assert sheets["按地区"][1:] == [("地址未知", 1, 0, 1, 0), ("广东省", 9, 6, 3, 2 / 3)]
    assert sheets["按处理组"][1:] == [("组g1", 10, 6, 4, 0.6)]
    assert sheets["处理人"] == [
        ("处理人", "认领", "关闭", "关闭用时中位 (分钟)", "关闭用时 P90 (分钟)"),
        ("alice", 2, 2, 50, 58),
        ("bob", 1, 0, None, None),
    ]
    # Deadlines in Shanghai time, without a time zone; no owner is an empty cell.
    assert sheets["未关闭工单"][1:] == [
        (3, "TB1", "组g1", "打包", wall(7, 14, 0), "bob"),
        (4, "DY9", "组g1", "待发货", wall(7, 23, 45), None),
    ]
    assert sheets["每日达标率"][1:] == [
        (wall(1), None),
        (wall(2), None),
        (wall(3), 0),
        (wall(4), 1),
        (wall(5), None),
        (wall(6), 0.75),
        (wall(7), 0.6),
    ]
    hourly = sheets["每小时新开"]
    assert hourly[0] == ("小时", "新开工单")
    assert [row[0] for row in hourly[1:]] == list(range(24))
    assert {row[0]: row[1] for row in hourly[1:] if row[1]} == {9: 2, 14: 1, 23: 1}


def test_the_workbook_is_formatted() -> None:
    workbook = load_workbook(io.BytesIO(report_xlsx(make_report())))
    for sheet in workbook.worksheets:
        assert sheet.freeze_panes == "A2"
        assert all(cell.font.bold for cell in sheet[1])
    assert workbook["概览"]["B5"].number_format == "0.0%"
    assert workbook["处理人"]["D2"].number_format == "0.00"
    assert workbook["未关闭工单"]["E2"].number_format == "yyyy-mm-dd hh:mm"
    assert workbook["概览"]["B3"].number_format == "yyyy-mm-dd"
    assert workbook["每日达标率"]["A2"].number_format == "yyyy-mm-dd"
    assert workbook["未关闭工单"].column_dimensions["E"].width >= 16


def test_text_that_looks_like_a_formula_stays_text() -> None:
    open_ticket = ticket(7, local(7, 8), order_no='=HYPERLINK("http://x","y")')
    report = make_report(tickets=[open_ticket], oldest_open=[open_ticket])
    cell = load_workbook(io.BytesIO(report_xlsx(report)))["未关闭工单"]["B2"]
    assert (cell.value, cell.data_type) == ('=HYPERLINK("http://x","y")', "s")


def test_the_csv_has_the_same_sections_and_figures() -> None:
    sections = csv_sections(report_csv(make_report()))
    assert list(sections) == SHEETS
    overview = {row[0]: row[1:] for row in sections["概览"]}
    assert overview["开始日期"] == ["2024-05-07", "2024-05-06", ""]
    assert overview["达标率"] == ["0.6", "0.75", "-0.15"]
    # 6 of 9 met: four decimals, not 0.6666666666666666.
    assert sections["按地区"][1:] == [
        ["地址未知", "1", "0", "1", "0.0"],
        ["广东省", "9", "6", "3", "0.6667"],
    ]
    assert overview["应达标"] == ["10", "4", "6"]
    assert [float(v) for v in overview["认领用时 P90 (分钟)"]] == [28, 5, 23]
    assert sections["处理人"][1:] == [
        ["alice", "2", "2", "50.0", "58.0"],
        ["bob", "1", "0", "", ""],
    ]
    assert sections["未关闭工单"][2] == ["4", "DY9", "组g1", "待发货", "2024-05-07 23:45:00", ""]
    assert sections["每日达标率"][1] == ["2024-05-01", ""]
    assert len(sections["每小时新开"]) == 1 + 24


def test_a_report_of_50_groups_and_1000_handlers_fits_wecom_and_exports_everyone() -> None:
    tickets = [
        ticket(
            n,
            local(7, n % 24, n % 60),
            claim_after=1 + n % 7,
            resolve_after=10 + n % 50,
            owner=f"user{n % 1000:04d}",
            group_key=f"g{n % 50:02d}",
            stage="ship" if n % 2 else "pack",
        )
        for n in range(3000)
    ]
    met = [
        Met(f"2024-05-0{d}", 40 + d, group_key=f"g{g:02d}") for d in range(1, 8) for g in range(50)
    ]
    report = make_report(tickets=tickets, met=met, oldest_open=tickets[:10])
    assert len(report.handlers) == 1000

    now = datetime(2024, 5, 8, 9, tzinfo=TZ)
    for limit in (4096, 2048):  # a robot's markdown; the app's markdown and text
        for markdown in (True, False):
            text = render_report(report, now, limit, markdown=markdown)
            assert len(text.encode()) <= limit
            assert "达标率" in text and "…共 1000 人" in text and "…等 50 项" in text
    check_png(render_chart(report))
    sheets = sheet_rows(report_xlsx(report))
    assert len(sheets["按处理组"]) == 1 + 50
    assert sorted(row[0] for row in sheets["处理人"][1:]) == [f"user{n:04d}" for n in range(1000)]
    assert sum(row[1] for row in sheets["处理人"][1:]) == 3000
    assert len(csv_sections(report_csv(report))["处理人"]) == 1 + 1000
