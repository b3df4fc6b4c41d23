"""``orderbot sms opt-out`` / ``opt-in`` (each once as a real subprocess): the list, the texts
already queued for that number, masked numbers in what it prints, clear refusals."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.app import create_app
from bot.keys import SESSIONS
from services.config import parse_config
from storage.models import SmsOptOut
from tests.sms_side import add_order, notify, sms_config_data, texts, utc
from tests.support import FakeClock
from tests.test_cli import no_crash, orderbot, orderbot_here, write_config

MORNING = utc(2026, 3, 2, 2)


async def run(tmp_path: Path, *args: str, process: bool = True) -> Any:
    """The command as a process of its own, or (``process=False``) in this one."""
    command = orderbot if process else orderbot_here
    return await asyncio.to_thread(
        command, *args, "--config", tmp_path / "orderbot.toml", cwd=tmp_path
    )


async def test_opt_out_stops_queued_texts_and_opt_in_lifts_it(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    data = sms_config_data(database_url)
    write_config(tmp_path / "orderbot.toml", data)
    clock = FakeClock(MORNING)
    bot: TestClient = await aiohttp_client(
        create_app(parse_config(data), clock=clock, watch_timer=False)
    )
    order = await add_order(bot, "SH1", "13812345678")
    assert await notify(bot, order, "sms:1", MORNING)

    result = await run(tmp_path, "sms", "opt-out", "+86 138-1234-5678")
    no_crash(result)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "已退订: 138****5678, 不再给该号码发短信"
    [text] = await texts(bot)
    assert (text.status, text.error) == ("opted_out", "号码已退订")
    async with bot.app[SESSIONS]() as session:
        [row] = (await session.scalars(select(SmsOptOut))).all()
    assert (row.phone, row.source) == ("13812345678", "命令行")
    assert not await notify(bot, order, "sms:2", MORNING)

    again = await run(tmp_path, "sms", "opt-out", "13812345678", process=False)
    assert (again.returncode, again.stdout.strip()) == (0, "138****5678 已在退订名单中")

    lifted = await run(tmp_path, "sms", "opt-in", "13812345678")
    assert (lifted.returncode, lifted.stdout.strip()) == (0, "已恢复: 138****5678 可以再收到短信")
    assert await notify(bot, order, "sms:3", MORNING)
    absent = await run(tmp_path, "sms", "opt-in", "13812345678", process=False)
    assert absent.stdout.strip() == "138****5678 不在退订名单中"
    for each in (result, again, lifted, absent):
        assert "13812345678" not in each.stdout + each.stderr


async def test_a_number_that_is_no_mobile_is_refused(database_url: str, tmp_path: Path) -> None:
    write_config(tmp_path / "orderbot.toml", sms_config_data(database_url))
    for phone in ("12345", "021-12345678", "abc"):
        result = await run(tmp_path, "sms", "opt-out", phone, process=False)
        no_crash(result)
        assert result.returncode == 2
        assert "不是有效的大陆手机号码" in result.stderr
