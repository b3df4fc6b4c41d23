"""The rules pages in Debian's chromium: a publisher signs in through the sandbox's WeCom
login, drafts a longer SLA limit, reads the preview's counts, publishes, sees an open order's
deadline move and the ops announcement arrive in the sandbox, and rolls back. With
ORDERBOT_SCREENSHOTS=<dir> the pages are saved there (docs/screenshots)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Page, async_playwright, expect

from bot.keys import CLOCK, RULES, SESSIONS, WECOM
from jobs import deliver, watch
from rules.render import local_time
from tests.console_side import SandboxClock, console_bot, login_sandbox
from tests.support import auth, shop_order
from tests.test_sandbox_page import CHROMIUM, CHROMIUM_FLAGS
from tests.wecom_side import replies_to

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


async def test_a_publisher_edits_an_sla_limit_publishes_and_rolls_back(
    bot: TestClient, login: TestServer, page: Page
) -> None:
    clock = bot.app[CLOCK]
    now, sessions = clock.now(), bot.app[SESSIONS]
    late = now - timedelta(hours=3)  # past its 2 h: a ticket is open
    orders = [shop_order("SH100", paid_at=late)]
    orders += [shop_order(f"SH2{n:02}", paid_at=now - timedelta(minutes=20)) for n in range(4)]
    response = await bot.post("/api/v1/orders/shop", json=orders, headers=auth("all"))
    assert response.status == 200, await response.text()
    await watch.run(sessions, bot.app[RULES].current(), now)
    tz = bot.app[RULES].current().timezone
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: refused.append(r.url) if r.status == 404 else None)

    await page.goto(str(bot.make_url("/console/")))
    await page.get_by_test_id("login").click()
    await page.get_by_test_id("pick-wang").click()
    await expect(page.get_by_test_id("viewer")).to_have_text("wang · 发布")
    await page.get_by_test_id("nav").filter(has_text="规则").click()
    normal = page.locator('[data-testid="sla-rule"][data-name="普通待拣货"]')
    await expect(normal.get_by_test_id("limit")).to_have_text("2h")
    await expect(page.get_by_test_id("routing-rule")).to_have_count(2)

    await page.get_by_test_id("new-draft").click()
    await expect(page.get_by_test_id("draft-title")).to_have_text("第 2 版草稿")
    await page.get_by_test_id("edit-sla-0").click()
    await page.locator("#f-limit").fill("6")
    await page.get_by_test_id("save").click()
    await expect(page.get_by_test_id("error-limit")).to_contain_text("时长须带单位")
    await page.locator("#f-limit").fill("6h")
    await page.get_by_test_id("save").click()

    await expect(page.get_by_test_id("changes")).to_contain_text("sla[普通待拣货].limit: 2h → 6h")
    await expect(page.get_by_test_id("new-deadlines")).to_have_text("5")
    await expect(page.get_by_test_id("overdue-at-once")).to_have_text("0")
    await expect(page.get_by_test_id("rerouted")).to_have_text("0 / 1 个未关闭工单")
    await shot(page, "rules-draft")
    await page.get_by_test_id("publish").click()
    await expect(page.get_by_test_id("rescheduled")).to_contain_text(
        "5 个未结订单的时限已按新规则重算"
    )

    await page.goto(str(bot.make_url("/console/tickets/1")))
    later = local_time(late + timedelta(hours=6), tz)
    await expect(page.get_by_test_id("stage")).to_contain_text(f"截止 {later}")

    clock.current += timedelta(seconds=15)  # past group_wait: the outbox sends
    await deliver.run(sessions, bot.app[RULES].current(), bot.app[WECOM], clock, "test")
    said = await replies_to(login, "ops-liu")  # (and the east group's alert, undeliverable)
    assert any(text.startswith("规则已更新: 第 2 版, wang 发布") for text in said), said
    chats = await page.context.new_page()  # the sandbox's own page, beside the console
    await chats.goto(str(login.make_url("/sandbox/")))
    await expect(chats.locator("body")).to_contain_text("sla[普通待拣货].limit: 2h → 6h")
    await chats.close()

    await page.goto(str(bot.make_url("/console/rules/history")))
    await expect(page.get_by_test_id("version").first).to_contain_text("2h → 6h")
    await page.get_by_test_id("rollback-1").click()
    await expect(page.get_by_test_id("published")).to_contain_text("第 3 版已生效")
    await page.goto(str(bot.make_url("/console/tickets/1")))
    earlier = local_time(late + timedelta(hours=2), tz)
    await expect(page.get_by_test_id("stage")).to_contain_text(f"截止 {earlier}")
    # Only the refused form (422, the limit without its unit) was an error.
    assert [m for m in refused if "422" not in m] == [], refused
