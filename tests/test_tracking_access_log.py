"""``serve``'s access log (bot.tracking.AccessLog): 快递100's accepted pushes leave no line
(one each cost ~10% of taking them), refused pushes and every other route still do."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.tracking import PUSH_PATH, AccessLog
from tests.support import T0, FakeClock
from tests.tracking_side import (
    carrier_fixture,  # noqa: F401
    push_param,
    ship,
    shipped_order,
    signed_push,
    tick_subscribe,
    tracked_config,
)

NUMBER = "YT1234567890"


async def test_accepted_pushes_leave_no_access_line(
    aiohttp_server: Any,
    aiohttp_client: Any,
    database_url: str,
    carrier: Any,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.access")  # before the first connection
    config = tracked_config(database_url, str(carrier.make_url("/")), "http://127.0.0.1:1/")
    app = create_app(config, clock=clock, watch_timer=False)
    server = await aiohttp_server(app, access_log_class=AccessLog)
    bot: TestClient = await aiohttp_client(server)
    await ship(bot, shipped_order("SH1", NUMBER, province="上海市"))
    assert (await tick_subscribe(bot, T0)).accepted == 1
    clock.current = T0 + timedelta(hours=2)
    caplog.clear()

    param = push_param(NUMBER, [("0", "运输中", T0)])
    assert (await bot.post(PUSH_PATH, data=signed_push(param))).status == 200
    assert (await bot.post(PUSH_PATH, data=signed_push(param, salt="guessed"))).status == 403
    await ship(bot, shipped_order("SH2", "YT1234567891", province="上海市"))

    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(lines) == 2, lines
    assert f"POST {PUSH_PATH}" in lines[0] and " 403 " in lines[0]
    assert "POST /api/v1/orders/shop" in lines[1] and " 200 " in lines[1]
