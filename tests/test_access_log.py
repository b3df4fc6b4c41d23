"""``serve``'s access log (bot.access_log.AccessLog): 快递100's accepted pushes leave no line
(one each cost ~10% of taking them), refused pushes and every other route still do; the
console's login callback is logged without its code and state."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, make_mocked_request
from aiohttp.web_log import AccessLogger

from bot.access_log import AccessLog
from bot.app import create_app
from bot.tracking import PUSH_PATH
from tests.console_side import SandboxClock, console_config, login_sandbox, wecom_callback
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


async def test_the_login_callback_is_logged_without_its_code(
    aiohttp_server: Any,
    aiohttp_client: Any,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    login = await login_sandbox(aiohttp_server, SandboxClock())
    app = create_app(console_config(database_url, login), watch_timer=False)
    bot: TestClient = await aiohttp_client(await aiohttp_server(app, access_log_class=AccessLog))
    callback = await wecom_callback(bot, login, "ops-liu")
    caplog.clear()
    assert (await bot.get(callback, allow_redirects=False)).status == 303

    logged = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    lines = [line for line in logged if "/console/" in line]  # not the sandbox's own lines
    assert len(lines) == 1, lines
    assert "GET /console/login/callback HTTP" in lines[0] and " 303 " in lines[0]
    assert "code" not in lines[0] and "state" not in lines[0]


def test_a_line_and_its_fields_are_those_aiohttp_would_log(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """serve's format is written directly (it is cheaper): the same line, the same fields."""
    started = datetime(2026, 3, 2, 9, 30, 5, 200_000, tzinfo=timezone(timedelta(hours=8)))
    monkeypatch.setattr(AccessLogger, "_get_local_time", classmethod(lambda _: started))
    headers = {"User-Agent": "WeCom/1.0", "Referer": "https://example.test/a b"}
    request = make_mocked_request("POST", "/wecom/aibot?msg_signature=a%25b&nonce=2", headers)
    response = web.Response(text="ok", status=200)
    logger = logging.getLogger("test.access")
    caplog.set_level(logging.INFO, logger="test.access")
    for kind in (AccessLogger, AccessLog):
        kind(logger, AccessLogger.LOG_FORMAT).log(request, response, 0.3)
    theirs, ours = caplog.records
    assert ours.getMessage() == theirs.getMessage()
    assert '"POST /wecom/aibot?msg_signature=a%25b&nonce=2 HTTP/1.1" 200' in ours.getMessage()
    assert "[02/Mar/2026:09:30:04 +0800]" in ours.getMessage()
    for field in (
        "remote_address",
        "request_start_time",
        "first_request_line",
        "response_status",
        "response_size",
        "request_header",
    ):
        assert getattr(ours, field) == getattr(theirs, field), field
    assert (ours.levelno, ours.name) == (theirs.levelno, theirs.name)
