"""The console in Debian's chromium: sign in through the sandbox's WeCom login page, read the
health board's signal values after orders came in and the health guard ran twice, the routing
pause it made, the open tickets by group and age and one ticket; htmx loads under the CSP, and
nothing the page asks for is refused. With ORDERBOT_SCREENSHOTS=<dir> the main pages are saved
there (docs/screenshots)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Page, async_playwright, expect

from bot.keys import CLOCK, RULES, SESSIONS
from jobs import health, watch
from storage.health import beat
from tests.console_side import SandboxClock, console_bot, login_sandbox
from tests.support import auth, shop_order
from tests.test_sandbox_page import CHROMIUM, CHROMIUM_FLAGS

SHOTS = os.environ.get("ORDERBOT_SCREENSHOTS")


@pytest.fixture
async def login(aiohttp_server: Any) -> TestServer:
    return await login_sandbox(aiohttp_server, SandboxClock())


@pytest.fixture
async def bot(aiohttp_client: Any, database_url: str, login: TestServer) -> TestClient:
    return await console_bot(aiohttp_client, database_url, login)


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        context = await browser.new_context(viewport={"width": 1360, "height": 900}, locale="zh-CN")
        yield await context.new_page()
        await browser.close()


async def shot(page: Page, name: str) -> None:
    if SHOTS:
        await page.screenshot(path=str(Path(SHOTS) / f"console-{name}.png"), full_page=True)


async def some_orders_and_checks(bot: TestClient) -> None:
    """Orders of the last hours: some with free-text addresses (three of them unparseable),
    some overdue in 上海 (华东组, opened 27 h and 4.5 h ago and now) and one large (大额组); the
    health guard checks twice, a minute apart."""
    now = bot.app[CLOCK].now()
    rules, sessions = bot.app[RULES], bot.app[SESSIONS]
    await health.run(sessions, rules.current(), now - timedelta(minutes=1))
    addresses = ["上海市浦东新区张江路100号"] * 22 + ["火星基地第3号舱"] * 3
    orders = [
        shop_order(f"SH2{n:02}", province=None, detail=detail, paid_at=now - timedelta(minutes=5))
        for n, detail in enumerate(addresses)
    ]
    orders += [
        shop_order(f"SH3{n:02}", province="上海市", paid_at=now - timedelta(hours=hours))
        for n, hours in enumerate((3, 3.5, 7, 30))
    ]
    orders.append(shop_order("SH400", total_fen=880000, paid_at=now - timedelta(hours=2.5)))
    response = await bot.post("/api/v1/orders/shop", json=orders, headers=auth("all"))
    assert response.status == 200, await response.text()
    for hours_ago in (27, 4.5, 0):  # the watch opened the older tickets long ago
        await watch.run(sessions, rules.current(), now - timedelta(hours=hours_ago))
    async with sessions.begin() as session:  # as serve's timer does after each tick
        await beat(session, "watch", "test", now - timedelta(seconds=20))
    await health.run(sessions, rules.current(), now)


async def test_ops_sign_in_with_wecom_and_read_the_board_and_the_tickets(
    bot: TestClient, login: TestServer, page: Page
) -> None:
    await some_orders_and_checks(bot)
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if m.type == "error" else None)
    page.on("requestfailed", lambda r: refused.append(r.url))
    page.on("response", lambda r: refused.append(r.url) if r.status == 404 else None)

    await page.goto(str(bot.make_url("/console/")))
    await expect(page.get_by_test_id("login")).to_have_text("企业微信登录")
    await page.get_by_test_id("login").click()
    await expect(page.get_by_test_id("pick-ops-liu")).to_be_visible()  # the sandbox's page
    await shot(page, "wecom-login")
    await page.get_by_test_id("pick-ops-liu").click()

    await expect(page).to_have_url(str(bot.make_url("/console/health")))
    await expect(page.get_by_test_id("viewer")).to_have_text("ops-liu · 查看")
    address = page.locator('[data-signal="address_parse"]')
    await expect(address.get_by_test_id("value")).to_have_text("88% (22/25)")
    await expect(address.get_by_test_id("threshold")).to_have_text("≥ 95% (至少 20 个样本)")
    await expect(address.get_by_test_id("recent")).to_contain_text("88% (22/25)样本不足 (0)")
    await expect(address).to_have_class("failing")
    await expect(page.locator('[data-signal="outbox_backlog"]')).to_be_visible()
    watched = page.locator('[data-signal="watch"]')
    await expect(watched.get_by_test_id("value")).to_have_text("20秒")
    await expect(page.get_by_test_id("routing")).to_contain_text("健康守护自动暂停")
    await expect(page.get_by_test_id("routing-log")).to_contain_text("自动暂停: 地址解析成功率")
    assert await page.evaluate("typeof window.htmx") == "object"  # loaded under the CSP
    await shot(page, "health")

    await page.get_by_test_id("nav").filter(has_text="未结工单").click()
    east = page.locator('[data-group="east"]')
    await expect(east.get_by_test_id("group-total")).to_have_text("4")
    await expect(east.locator("td")).to_have_text(["华东组", "2", "0", "1", "1", "0", "4"])
    await expect(page.get_by_test_id("ticket")).to_have_count(4)  # the east group's
    await expect(page.get_by_test_id("ticket").first).to_contain_text("SH303")  # most overdue
    await expect(page.locator('[data-group="vip"]').get_by_test_id("group-total")).to_have_text("1")
    await shot(page, "tickets")

    await page.get_by_test_id("ticket").first.get_by_role("link").click()
    await expect(page.get_by_test_id("ticket-title")).to_contain_text("超时")
    await expect(page.get_by_test_id("order")).to_contain_text("SH303")
    await expect(page.get_by_test_id("timeline")).to_contain_text("开单")
    await shot(page, "ticket")

    await page.get_by_test_id("logout").click()
    await expect(page.get_by_test_id("note")).to_have_text("您已退出。")
    await page.goto(str(bot.make_url("/console/tickets")))
    await expect(page.get_by_test_id("login")).to_be_visible()
    assert refused == [], refused
