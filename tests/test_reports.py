"""SLA reports from a known set of orders and tickets, checked against figures computed by
hand: attainment, counts, median and p90 times, the change against the previous day."""

from __future__ import annotations

import asyncio
import re
import subprocess
from datetime import date, datetime, timedelta
from pathlib import Path

import openpyxl
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.keys import RULES, SESSIONS
from rules.kinds import Kind
from rules.report import Period
from rules.report_text import render_report
from services.lifecycle.signals import open_ticket
from services.reports import load_report
from storage.models import Order
from tests.chat import OPENED, H, M, say, tick
from tests.support import BEIJING, T0, auth, config_data, shop_order, stage_event
from tests.test_cli import orderbot, orderbot_here, write_config

DAY = timedelta(days=1)


async def post(client: TestClient, *orders: dict[str, object]) -> None:
    response = await client.post("/api/v1/orders/shop", json=list(orders), headers=auth("all"))
    assert response.status == 200, await response.text()


async def event(client: TestClient, order_no: str, stage: str, at: object) -> None:
    response = await client.post(
        "/api/v1/events", json=stage_event(order_no, stage, at), headers=auth("wms")
    )
    assert response.status == 200, await response.text()


async def a_known_day(client: TestClient) -> None:
    """03-02 (Asia/Shanghai) for the east group (上海市), normal orders, SLA paid → 2 h:

    - SH001–SH004 paid 09:00, deadline 11:00, all missed: 4 tickets opened 11:00.
      claimed at +10, +20, +30 and +60 minutes; SH001 closed by hand at +40 min, SH002 moved
      to picking at +60 min (auto-closed), SH003 and SH004 still open.
    - SH005–SH010 paid 09:00 and picked at 10:00: six entries met their deadline.
    - The day before, 03-01: one order paid, picked and shipped in time (two entries met).
    Attainment 6 / (6 + 4) = 60.0%; the day before 100%.
    Claim times 10, 20, 30, 60 min: median 25, p90 = 30 + 0.7 × 30 = 51 min.
    Close times 40 and 60 min: median 50, p90 58 min.
    """
    await post(client, shop_order("SH000", paid_at=T0 - DAY))
    await event(client, "SH000", "picking", T0 - DAY + H)
    await event(client, "SH000", "shipped", T0 - DAY + 2 * H)
    await post(client, *(shop_order(f"SH{n:03}") for n in range(1, 11)))
    for n in range(5, 11):
        await event(client, f"SH{n:03}", "picking", T0 + H)
    await tick(client, OPENED)
    for ticket, minutes in ((1, 10), (2, 20), (3, 30), (4, 60)):
        await say(client, "zhang", f"认领 {ticket}", now=OPENED + minutes * M)
    await say(client, "zhang", "完成 1 客户改地址", now=OPENED + 40 * M)
    await event(client, "SH002", "picking", OPENED + 60 * M)
    await tick(client, OPENED + 61 * M)


async def test_a_days_report_matches_the_figures_computed_by_hand(client: TestClient) -> None:
    await a_known_day(client)
    period = Period.ending(
        T0.astimezone(BEIJING).date(), 1, client.app[RULES].current().calendar.hours.timezone
    )

    async with client.app[SESSIONS]() as session:
        report = await load_report(
            session, client.app[RULES].current(), period, OPENED + 2 * H, ["east"]
        )

    assert (report.overall.met, report.overall.missed) == (6, 4)
    assert report.overall.rate == 0.6 and report.previous_overall.rate == 1.0
    s = report.summary
    assert (s.opened, s.claimed, s.resolved, s.resolved_by_hand, s.escalated, s.still_open) == (
        4, 4, 2, 1, 0, 2,
    )  # fmt: skip
    assert (s.time_to_claim.median, s.time_to_claim.p90) == (25 * M, 51 * M)
    assert (s.time_to_resolve.median, s.time_to_resolve.p90) == (50 * M, 58 * M)
    assert [(a.name, a.met, a.missed) for a in report.by_stage] == [("已付款待拣货", 6, 4)]
    assert [(a.name, a.met, a.missed) for a in report.by_region] == [("上海市", 6, 4)]
    assert [(h.user, h.claimed, h.resolved) for h in report.handlers] == [("zhang", 4, 2)]
    assert [t.order_no for t in report.oldest_open] == ["SH003", "SH004"]
    assert report.opened_by_hour[11] == 4 and sum(report.opened_by_hour) == 4
    assert report.daily[-2:] == ((period.first - DAY, 1.0), (period.first, 0.6))

    text = render_report(report, OPENED + 2 * H, 4096)
    assert text.splitlines()[:4] == [
        "### 📊 SLA 日报 03-02 · 华东组",
        "> 达标率 **60.0%** (↓40.0 个百分点) · 应达标 10 · 超时 4",
        "> 新开工单 4 (↑4), 其中仍未关闭 2 · 认领 4 · 关闭 2 (手动 1) · 升级主管 0",
        "> 认领用时 中位 25分 / P90 51分 · 关闭用时 中位 50分 / P90 58分",
    ]
    assert "#3 SH003 华东组 已付款待拣货 超时2小时 zhang" in text


async def test_the_report_command_answers_in_plain_text_one_to_one(client: TestClient) -> None:
    await a_known_day(client)
    reply = await say(client, "boss-east", "报表", chat="direct", now=OPENED + 2 * H)
    assert reply.startswith("📊 SLA 日报 03-02 · 华东组\n达标率 60.0%")
    assert "**" not in reply and "###" not in reply
    yesterday = await say(client, "boss-east", "report yesterday 华东组", now=OPENED + 2 * H)
    assert "达标率 **100.0%**" in yesterday and "新开工单 0" in yesterday
    week = await say(client, "ops-liu", "报表 近7天", chat="direct", now=OPENED + 2 * H)
    assert week.startswith("📊 SLA 7日报 02-24 ~ 03-02 · 全部处理组")
    assert "达标率 66.7%" in week  # 8 met, 4 missed
    assert "不认识「上周」" in await say(client, "boss-east", "报表 上周")


async def test_the_command_line_exports_any_period_as_markdown_csv_and_xlsx(
    client: TestClient, database_url: str, tmp_path: Path
) -> None:
    await a_known_day(client)
    path = write_config(tmp_path / "orderbot.toml", config_data(database_url))
    day = ["--to", "2026-03-02", "-c", path]

    # The real command once; the other formats and the refusal in this process.
    markdown = await asyncio.to_thread(orderbot, "report", *day, "-g", "east", cwd=tmp_path)
    assert markdown.returncode == 0, markdown.stderr
    assert "达标率 **60.0%**" in markdown.stdout and "华东组" in markdown.stdout

    csv_run = await asyncio.to_thread(orderbot_here, "report", *day, "-f", "csv", cwd=tmp_path)
    assert csv_run.returncode == 0, csv_run.stderr
    rows = {line.split(",")[0]: line.split(",")[1:] for line in csv_run.stdout.splitlines()}
    assert rows["达标率"][:2] == ["0.6", "1.0"]  # this day, the day before
    assert rows["认领用时中位 (分钟)"][0] == "25.0"

    xlsx = tmp_path / "week.xlsx"
    args = ("report", *day, "--days", "7", "-f", "xlsx", "-o", xlsx)
    written = await asyncio.to_thread(orderbot_here, *args, cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert "02-24 ~ 03-02" in written.stdout
    book = openpyxl.load_workbook(xlsx)
    assert "概览" in book.sheetnames and "处理人" in book.sheetnames

    refused = await asyncio.to_thread(orderbot_here, "report", *day, "-g", "mars", cwd=tmp_path)
    assert refused.returncode == 2 and "未定义的组 mars" in refused.stderr


async def cli_report(
    database_url: str, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """``orderbot report ARGS`` against the test's database, in this process (the test above
    runs the real command)."""
    path = write_config(tmp_path / "orderbot.toml", config_data(database_url))
    return await asyncio.to_thread(orderbot_here, "report", *args, "-c", path, cwd=tmp_path)


TICKET_LINE = re.compile(r"#\d+ ")
PROVINCES = ["上海市", "广东省", "北京市", "四川省", "湖北省", "山东省", "河南省"]


async def seven_missed(client: TestClient) -> None:
    """03-02: seven orders paid 09:00 in seven provinces, none picked: seven tickets at 11:00,
    all still open."""
    await post(
        client, *(shop_order(f"SH{n}", province=p) for n, p in enumerate(PROVINCES, start=1))
    )
    await tick(client, OPENED)


async def test_the_command_line_markdown_is_unabridged_while_the_chat_is_cut(
    client: TestClient, database_url: str, tmp_path: Path
) -> None:
    await seven_missed(client)

    run = await cli_report(database_url, tmp_path, "--to", "2026-03-02")

    assert run.returncode == 0, run.stderr
    assert "…" not in run.stdout
    [regions] = [line for line in run.stdout.splitlines() if line.startswith("**按地区")]
    assert all(f"{province} 0.0% (1)" in regions for province in PROVINCES)
    assert "**当前全部未关闭工单 7 张 (不限本期):**" in run.stdout
    listed = [line for line in run.stdout.splitlines() if TICKET_LINE.match(line)]
    assert [line.split()[1] for line in listed] == [f"SH{n}" for n in range(1, 8)]

    chat = await say(client, "ops-liu", "报表", chat="direct", now=OPENED + H)
    assert "…等 7 项" in chat
    assert "当前全部未关闭工单 7 张 (不限本期), 最久的:" in chat
    assert len([line for line in chat.splitlines() if TICKET_LINE.match(line)]) == 5


async def test_the_periods_own_open_tickets_and_all_open_ones_are_told_apart(
    client: TestClient, database_url: str, tmp_path: Path
) -> None:
    """The day after a_known_day opens no ticket, while two of that day's are still open."""
    await a_known_day(client)

    run = await cli_report(database_url, tmp_path, "--to", "2026-03-03")

    assert run.returncode == 0, run.stderr
    assert "> 新开工单 0 (↓4), 其中仍未关闭 0 · " in run.stdout
    assert "**当前全部未关闭工单 2 张 (不限本期):**" in run.stdout


async def test_sla_reports_count_overdue_tickets_only(client: TestClient) -> None:
    """A parcel that stalls or a payment that differs is not a stage entry that missed its
    deadline: its ticket is in no SLA figure."""
    await post(client, shop_order("SH001"), shop_order("SH002"))
    await tick(client, OPENED)
    policy = client.app[RULES].current()
    async with client.app[SESSIONS].begin() as session:
        order = await session.scalar(select(Order).where(Order.channel_order_id == "SH001"))
        assert order is not None
        stall = await open_ticket(
            session,
            policy,
            order,
            kind=Kind.STALL,
            episode="SF1",
            summary="3 天没有轨迹",
            now=OPENED,
        )
    assert stall is not None
    period = Period.ending(T0.astimezone(BEIJING).date(), 1, policy.timezone)

    async with client.app[SESSIONS]() as session:
        report = await load_report(session, policy, period, OPENED + H, ["east"])

    assert (report.summary.opened, report.summary.still_open, report.open_now) == (2, 2, 2)
    assert [t.order_no for t in report.oldest_open] == ["SH001", "SH002"]


async def test_report_periods_from_and_to_named_days(
    client: TestClient, database_url: str, tmp_path: Path
) -> None:
    await a_known_day(client)

    async def report(*args: str) -> subprocess.CompletedProcess[str]:
        return await cli_report(database_url, tmp_path, *args)

    span = await report("--from", "2026-03-01", "--to", "2026-03-02")
    assert span.returncode == 0, span.stderr
    assert span.stdout.startswith("### 📊 SLA 2日报 03-01 ~ 03-02 · 全部处理组")
    assert "应达标 12 · 超时 4" in span.stdout  # 03-01's two entries and 03-02's ten

    def today() -> date:
        return datetime.now(BEIJING).date()

    for args, days in [
        (("--to", "today"), [0]),
        (("--to", "今天"), [0]),
        (("--to", "yesterday"), [1]),
        (("--to", "昨天"), [1]),
        ((), [1]),
        (("--from", "yesterday", "--to", "today"), [1, 0]),
        (("--from", "昨天"), [1]),
        (("--from", "today"), [0]),  # alone: through today, not refused as after yesterday
    ]:
        before = today()
        run = await report(*args)
        assert run.returncode == 0, run.stderr
        labels = {
            " ~ ".join(f"{on - timedelta(days=back):%m-%d}" for back in days)
            for on in (before, today())
        }
        assert any(f"日报 {label} · " in run.stdout.splitlines()[0] for label in labels), args

    for args, message in [
        (
            ("--to", "tomorrow"),
            "--to: 日期应为 YYYY-MM-DD (北京时间), 或 today/今天、yesterday/昨天",
        ),
        (("--from", "2026-03-01", "--days", "3"), "--from 与 --days 只能给一个"),
        (("--from", "2026-03-03", "--to", "2026-03-02"), "--from 2026-03-03 晚于 --to 2026-03-02"),
        (("--from", "2025-01-01", "--to", "2026-03-02"), "最多 366 天"),
    ]:
        refused = await report(*args)
        assert refused.returncode == 2, args
        assert message in refused.stderr
        assert "Traceback" not in refused.stderr
