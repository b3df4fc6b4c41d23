"""The ops console over HTTP: signing in with WeCom through the sandbox (state, single-use and
stale codes, the trusted host, people without a role), the session, CSRF on every POST, the
security headers, who may do what, and the health board and tickets pages' contents."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from bot.keys import CLOCK, RULES, SESSIONS
from jobs import health
from services.config import ConfigError, parse_config
from services.policy import Policy
from tests.console_side import (
    SandboxClock,
    console_bot,
    csrf_of,
    login_sandbox,
    sign_in,
    wecom_callback,
)
from tests.support import auth, config_data, shop_order
from tests.wecom_side import overdue_ticket


@pytest.fixture
def sandbox_clock() -> SandboxClock:
    return SandboxClock()


@pytest.fixture
async def login(aiohttp_server: Any, sandbox_clock: SandboxClock) -> TestServer:
    return await login_sandbox(aiohttp_server, sandbox_clock)


@pytest.fixture
async def bot(aiohttp_client: Any, database_url: str, login: TestServer) -> TestClient:
    return await console_bot(aiohttp_client, database_url, login)


async def signed_out(bot: TestClient) -> bool:
    response = await bot.get("/console/health", allow_redirects=False)
    back = "/console/login?next=/console/health"
    return response.status == 303 and response.headers["Location"] == back


async def test_signing_in_returns_to_the_page_asked_for(bot: TestClient, login: TestServer) -> None:
    asked = await bot.get("/console/tickets?group=east", allow_redirects=False)
    assert asked.headers["Location"] == "/console/login?next=/console/tickets?group%3Deast"
    page = await (await bot.get(asked.headers["Location"])).text()
    assert 'href="/console/login/wecom?next=/console/tickets%3Fgroup%3Deast"' in page
    callback = await wecom_callback(bot, login, "ops-liu", "?next=/console/tickets%3Fgroup%3Deast")
    back = await bot.get(callback, allow_redirects=False)
    assert back.headers["Location"] == "/console/tickets?group=east"
    for elsewhere in ("https://evil.example/", "//evil.example/console/", "/console/login/wecom"):
        callback = await wecom_callback(bot, login, "ops-liu", f"?next={elsewhere}")
        back = await bot.get(callback, allow_redirects=False)
        assert back.headers["Location"] == "/console/", elsewhere


async def test_htmx_is_sent_to_the_login_page_when_the_session_is_over(
    bot: TestClient,
) -> None:
    response = await bot.get("/console/health/board", headers={"HX-Request": "true"})
    assert response.status == 401
    assert response.headers["HX-Redirect"] == "/console/login"


async def test_signing_in_with_wecom_opens_the_health_board(
    bot: TestClient, login: TestServer
) -> None:
    assert await signed_out(bot)
    start = await bot.get("/console/login/wecom", allow_redirects=False)
    target = URL(start.headers["Location"])
    assert target.query["appid"] == "wwsandbox0000001"
    assert target.query["agentid"] == "1000002"
    assert target.query["login_type"] == "CorpApp"
    assert target.query["redirect_uri"] == str(bot.make_url("/console/login/callback"))
    assert target.query["state"].isalnum()

    await sign_in(bot, login, "ops-liu")
    home = await bot.get("/console/", allow_redirects=False)
    assert home.headers["Location"] == "/console/health"
    page = await bot.get("/console/health")
    text = await page.text()
    assert page.status == 200
    assert "订单流程健康度监控看板" in text
    assert "ops-liu · 查看" in text
    for title in ("数据完整性", "接口连通性", "规则命中率", "数据时效", "消息积压"):
        assert title in text


async def test_every_answer_carries_the_security_headers(
    bot: TestClient, login: TestServer
) -> None:
    await sign_in(bot, login, "ops-liu")
    for path in ("/console/health", "/console/login", "/console/tickets", "/console/nope"):
        response = await bot.get(path, allow_redirects=False)
        headers = response.headers
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert headers["Cache-Control"] == "no-store"
    missing = await bot.get("/console/nope")
    assert missing.status == 404 and "页面不存在" in await missing.text()
    script = await bot.get("/console/static/htmx-2.0.11.min.js")
    assert script.status == 200 and "htmx" in await script.text()


async def test_the_session_cookie_is_http_only_and_lax(bot: TestClient, login: TestServer) -> None:
    callback = await wecom_callback(bot, login, "ops-liu")
    response = await bot.get(callback, allow_redirects=False)
    cookie = response.cookies["ob_console"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    assert int(cookie["max-age"]) == 8 * 3600


async def test_a_callback_whose_state_is_not_this_browsers_is_refused(
    bot: TestClient, login: TestServer
) -> None:
    callback = URL(await wecom_callback(bot, login, "ops-liu"))
    forged = callback.update_query(state="0" * 32)
    response = await bot.get(forged.path_qs, allow_redirects=False)
    assert response.status == 400
    assert "登录请求已失效" in await response.text()
    no_state = await bot.get(callback.without_query_params("state").path_qs)
    assert no_state.status == 400
    assert await signed_out(bot)


async def test_a_login_code_works_once(bot: TestClient, login: TestServer) -> None:
    first = URL(await wecom_callback(bot, login, "ops-liu"))
    assert (await bot.get(first.path_qs, allow_redirects=False)).status == 303
    # Another login under way in this browser, answered with the spent code.
    second = URL(await wecom_callback(bot, login, "ops-liu"))
    replay = second.update_query(code=first.query["code"])
    response = await bot.get(replay.path_qs, allow_redirects=False)
    assert response.status == 400
    assert "只能用一次" in await response.text()


async def test_a_login_code_older_than_five_minutes_is_refused(
    bot: TestClient, login: TestServer, sandbox_clock: SandboxClock
) -> None:
    callback = await wecom_callback(bot, login, "ops-liu")
    sandbox_clock.now += 301
    response = await bot.get(callback, allow_redirects=False)
    assert response.status == 400
    assert "5 分钟内有效" in await response.text()
    assert await signed_out(bot)


async def test_a_redirect_host_outside_the_trusted_domains_is_refused(
    aiohttp_client: Any, aiohttp_server: Any, database_url: str, sandbox_clock: SandboxClock
) -> None:
    strict = await login_sandbox(aiohttp_server, sandbox_clock, login_hosts=("ops.example.com",))
    bot = await console_bot(aiohttp_client, database_url, strict)
    response = await bot.get(await wecom_callback(bot, strict, "ops-liu"), allow_redirects=False)
    assert response.status == 403
    text = await response.text()
    assert "可信域名" in text and "50001" in text


async def test_someone_without_a_console_role_gets_a_chinese_refusal(
    bot: TestClient, login: TestServer
) -> None:
    for user in ("zhang", "kefu"):  # a handler, customer service: known, but not for here
        response = await bot.get(await wecom_callback(bot, login, user), allow_redirects=False)
        assert response.status == 403
        text = await response.text()
        assert f"您的企业微信账号 ({user}) 没有控制台权限" in text
        assert "ob_console=" not in response.headers.get("Set-Cookie", "").replace(
            "ob_console_login", ""
        )
        assert await signed_out(bot)


async def test_roles_come_from_the_config_in_force(bot: TestClient, login: TestServer) -> None:
    for user, label in (("wang", "发布"), ("li", "编辑草稿"), ("boss-east", "查看")):
        await sign_in(bot, login, user)
        assert f"{user} · {label}" in await (await bot.get("/console/health")).text()
    # Taken out of the rules: the next click is refused, the session is over.
    data = config_data("sqlite+aiosqlite://")
    data["groups"]["east"]["supervisor"] = "someone-else"
    bot.app[RULES].swap(Policy.from_config(parse_config(data)))
    assert await signed_out(bot)


async def test_a_session_ends_after_its_time(bot: TestClient, login: TestServer) -> None:
    await sign_in(bot, login, "ops-liu")
    bot.app[CLOCK].advance(timedelta(hours=8, seconds=1))
    assert await signed_out(bot)


async def test_a_post_without_its_csrf_token_is_refused(bot: TestClient, login: TestServer) -> None:
    await sign_in(bot, login, "ops-liu")
    refused = await bot.post("/console/logout", data={}, allow_redirects=False)
    assert refused.status == 403
    assert "CSRF" in await refused.text()
    wrong = await bot.post("/console/logout", data={"csrf": "0" * 64}, allow_redirects=False)
    assert wrong.status == 403
    assert not await signed_out(bot)
    token = await csrf_of(bot)
    by_header = await bot.post(
        "/console/health/routing/resume", headers={"X-CSRF-Token": token}, allow_redirects=False
    )
    assert by_header.status == 409  # past the CSRF check: routing was not paused
    out = await bot.post("/console/logout", data={"csrf": token}, allow_redirects=False)
    assert out.status == 303 and out.headers["Location"] == "/console/login?bye"
    assert await signed_out(bot)
    assert "您已退出" in await (await bot.get("/console/login?bye")).text()


async def test_a_post_without_a_session_changes_nothing(bot: TestClient) -> None:
    response = await bot.post("/console/health/routing/pause", data={"reason": "x"})
    assert response.status == 401
    assert "请重新登录" in await response.text()


async def test_only_ops_pause_and_resume_routing(bot: TestClient, login: TestServer) -> None:
    await sign_in(bot, login, "boss-east")
    page = await (await bot.get("/console/health")).text()
    assert 'data-testid="pause"' not in page
    denied = await bot.post(
        "/console/health/routing/pause",
        data={"reason": "试试", "csrf": await csrf_of(bot)},
        allow_redirects=False,
    )
    assert denied.status == 403
    assert "只有运维" in await denied.text()
    assert "运行中" in await (await bot.get("/console/health")).text()

    await sign_in(bot, login, "ops-liu")
    paused = await bot.post(
        "/console/health/routing/pause",
        data={"reason": "地址库升级", "csrf": await csrf_of(bot)},
        allow_redirects=False,
    )
    assert paused.status == 303
    board = await (await bot.get("/console/health")).text()
    assert "ops-liu 手动暂停" in board and "地址库升级" in board
    resumed = await bot.post(
        "/console/health/routing/resume",
        data={"csrf": await csrf_of(bot)},
        allow_redirects=False,
    )
    assert resumed.status == 303
    assert "运行中" in await (await bot.get("/console/health")).text()


async def test_the_board_shows_each_signal_with_its_threshold_and_value(
    bot: TestClient, login: TestServer
) -> None:
    now = bot.app[CLOCK].now()
    orders = [
        shop_order(f"SH{n}", province=None, detail=detail, paid_at=now - timedelta(minutes=3))
        for n, detail in enumerate(["上海市浦东新区张江路100号"] * 22 + ["火星基地第3号舱"] * 3)
    ]
    await health.run(bot.app[SESSIONS], bot.app[RULES].current(), now - timedelta(minutes=1))
    response = await bot.post("/api/v1/orders/shop", json=orders, headers=auth("all"))
    assert response.status == 200
    await health.run(bot.app[SESSIONS], bot.app[RULES].current(), now)
    await sign_in(bot, login, "ops-liu")
    board = await (await bot.get("/console/health/board")).text()
    assert board.startswith('<div id="board"')  # the fragment htmx swaps in, no layout
    assert "1 项告警" in board
    row = _row(board, "address_parse")
    assert "地址解析成功率" in row
    assert '<td data-testid="value">88% (22/25)</td>' in row
    assert "≥ 95% (至少 20 个样本)" in row
    # The last checks, newest first: the one before the orders had too few addresses to judge.
    assert row.index("88% (22/25)</span>") < row.index("样本不足 (0)</span>")
    assert "健康守护自动暂停" in board  # the guard paused routing on it
    assert "自动暂停: 地址解析成功率 88% (22/25), 低于 95%" in board
    assert "待发消息最长等待" in board

    resumed = await bot.post(
        "/console/health/routing/resume", data={"csrf": await csrf_of(bot)}, allow_redirects=False
    )
    assert resumed.status == 303
    board = await (await bot.get("/console/health/board")).text()
    log = board[board.index('data-testid="routing-log"') :]
    assert log.index("ops-liu 手动恢复") < log.index("自动暂停")


def _row(board: str, signal: str) -> str:
    start = board.index(f'data-signal="{signal}"')
    return board[start : board.index("</tr>", start)]


async def test_the_tickets_page_counts_open_tickets_by_group_and_age(
    bot: TestClient, login: TestServer
) -> None:
    await overdue_ticket(bot, "SH100")
    await sign_in(bot, login, "boss-east")
    page = await (await bot.get("/console/tickets")).text()
    assert "华东组" in page and "SH100" in page
    assert 'data-group="east"' in page
    detail = await bot.get("/console/tickets/1")
    text = await detail.text()
    assert detail.status == 200
    assert "工单 #1" in text and "SH100" in text and "华东组" in text
    missing = await bot.get("/console/tickets/999")
    assert missing.status == 404 and "没有工单 999" in await missing.text()


def test_the_console_needs_wecom_credentials() -> None:
    data = config_data("sqlite+aiosqlite://")
    data["console"] = {"secret": "s"}
    with pytest.raises(ConfigError, match="console: 企业微信登录需要"):
        parse_config(data)
    data["wecom"] = {"corp_id": "ww1", "agent_id": 1, "corp_secret": "x"}
    del data["console"]["secret"]
    with pytest.raises(ConfigError, match="secret"):
        parse_config(data)


async def test_a_form_over_64_kib_is_refused(bot: TestClient, login: TestServer) -> None:
    await sign_in(bot, login, "ops-liu")
    form = {"csrf": await csrf_of(bot), "reason": "x" * 70_000}
    response = await bot.post("/console/health/routing/pause", data=form)
    assert response.status == 413
    assert "提交的内容太大" in await response.text()
    assert "运行中" in await (await bot.get("/console/health")).text()


async def test_login_attempts_per_address_are_limited(
    aiohttp_client: Any, database_url: str, login: TestServer
) -> None:
    bot = await console_bot(aiohttp_client, database_url, login, logins_per_ip=2, login_window="1m")
    for _ in range(2):
        callback = URL(await wecom_callback(bot, login, "ops-liu"))
        made_up = await bot.get(callback.update_query(code="made-up").path_qs)
        assert made_up.status == 400  # WeCom asked: 40029
    callback = await wecom_callback(bot, login, "ops-liu")
    refused = await bot.get(callback, allow_redirects=False)
    assert refused.status == 429
    assert "登录尝试过于频繁" in await refused.text()
    bot.app[CLOCK].advance(timedelta(minutes=1))
    assert (await bot.get(callback, allow_redirects=False)).status == 303  # the code is unspent
