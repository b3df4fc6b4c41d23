"""The daily report job end to end: queued once per period, delivered through the sandbox as
markdown plus a chart, in the group chat (robot) and to each supervisor (app)."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from bot.keys import CLOCK, RULES, SESSIONS, WECOM
from jobs import deliver, report
from storage.models import OutboxMessage
from tests.support import all_rows
from tests.wecom_side import overdue_ticket, sandbox_records

PNG = b"\x89PNG\r\n\x1a\n"


async def test_the_report_and_its_chart_reach_the_group_and_the_supervisors(
    bot: TestClient, sandbox: TestServer
) -> None:
    await overdue_ticket(bot, "SH100")
    await overdue_ticket(bot, "SH200")
    clock = bot.app[CLOCK]
    tomorrow = clock.advance(timedelta(days=1))  # so the report is of today
    for _ in range(2):  # a second run (or a second instance) finds every report queued
        await report.run(bot.app[SESSIONS], bot.app[RULES].current(), tomorrow)
    reports = [m for m in await all_rows(bot.app[SESSIONS], OutboxMessage) if m.kind == "report"]
    assert sorted(m.target for m in reports) == ["boss-east", "boss-vip", "east"]

    clock.advance(timedelta(minutes=1))  # past group_wait
    await deliver.run(bot.app[SESSIONS], bot.app[RULES].current(), bot.app[WECOM], clock, "test")

    out = [r for r in await sandbox_records(sandbox) if r["direction"] == "out"]
    group = [r for r in out if r["target_kind"] == "group"]
    reports = [r for r in group if "SLA 日报" in (r["content"] or "")]
    assert len(reports) == 1 and "华东组" in reports[0]["content"]
    assert "新开工单 2" in reports[0]["content"]
    [chart] = [r for r in group if r["msgtype"] == "image"]
    async with (
        aiohttp.ClientSession() as http,
        http.get(sandbox.make_url(chart["media"]["url"])) as png,
    ):
        assert (await png.read()).startswith(PNG)
    for supervisor in ("boss-east", "boss-vip"):
        text, picture = [r for r in out if supervisor in r["users"]]
        assert text["msgtype"] == "markdown" and "全部处理组" in text["content"]
        assert picture["msgtype"] == "image" and picture["media"]["kind"] == "image"
