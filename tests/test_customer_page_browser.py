"""The customer page in Debian's chromium at a phone's size (375×812), asserting what the
customer reads: a code requested and read from the sandbox's phone, the orders with their state,
ETA and timeline; a text's signed link, and an expired one; five wrong codes; a number without
orders. With ORDERBOT_SCREENSHOTS=<dir> the main screens are saved there (docs/screenshots)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright, expect

from tests.customer_side import PageWorld, page_world
from tests.support import T0, FakeClock
from tests.test_sandbox_page import CHROMIUM, CHROMIUM_FLAGS

ALICE = "13812345678"
BOB = "13900001111"
SHOTS = os.environ.get("ORDERBOT_SCREENSHOTS")


@pytest.fixture
async def world(
    aiohttp_client: Any, aiohttp_server: Any, database_url: str, clock: FakeClock
) -> AsyncIterator[PageWorld]:
    world = await page_world(aiohttp_client, aiohttp_server, database_url, clock)
    yield world
    await world.close()


@pytest.fixture
async def phone() -> AsyncIterator[Page]:
    """A fresh phone-sized browser page."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        context = await browser.new_context(
            viewport={"width": 375, "height": 812}, device_scale_factor=2, locale="zh-CN"
        )
        yield await context.new_page()
        await browser.close()


async def shot(page: Page, name: str) -> None:
    if SHOTS:
        await page.screenshot(path=str(Path(SHOTS) / f"customer-{name}.png"), full_page=True)


async def ask_code(world: PageWorld, page: Page, number: str) -> str:
    """Type the number, ask for a code; the code as the sandbox's phone received it."""
    await page.goto(world.url + "/")
    await page.get_by_test_id("phone").fill(number)
    await page.get_by_test_id("send-code").click()
    await expect(page.get_by_test_id("note")).to_contain_text("验证码短信已发出")
    await expect(page.get_by_test_id("masked-phone")).to_have_text(f"{number[:3]}****{number[-4:]}")
    return await world.last_code(number)


async def test_a_customer_enters_with_a_texted_code_and_sees_their_orders(
    world: PageWorld, phone: Page
) -> None:
    world.clock.current = T0
    await world.shipped("SH-1001", ALICE, T0)
    world.clock.current = T0 + 5 * timedelta(hours=1)
    await world.order("SH-1002", ALICE, items=[{"title": "羊毛围巾", "quantity": 2}])
    await phone.goto(world.url + "/")
    code = await ask_code(world, phone, ALICE)
    await shot(phone, "code")
    await phone.get_by_test_id("code").fill(code)
    await phone.get_by_test_id("verify").click()

    orders = phone.get_by_test_id("order")
    await expect(orders).to_have_count(2)
    newest, shipped = orders.nth(0), orders.nth(1)
    await expect(newest).to_contain_text("SH-1002")
    await expect(newest.get_by_test_id("items")).to_have_text("羊毛围巾 ×2")
    await expect(newest.get_by_test_id("state")).to_contain_text("已付款待拣货")
    await expect(shipped.get_by_test_id("channel")).to_have_text("自营商城")
    await expect(shipped.get_by_test_id("state")).to_contain_text("运输中, 预计")
    await expect(shipped.get_by_test_id("address")).to_have_text("上海市浦东新区")
    timeline = shipped.get_by_test_id("timeline").locator("li")
    await expect(timeline).to_have_count(4)
    await expect(timeline.nth(0)).to_contain_text("【上海转运中心】快件已发往【上海浦东】")
    await expect(timeline.nth(0)).to_contain_text("3月2日 12:00")  # Beijing time
    await expect(timeline.nth(2)).to_contain_text("已发货")
    await expect(timeline.nth(3)).to_contain_text("已付款")
    await shot(phone, "orders")
    text = await phone.locator("main").inner_text()
    assert ALICE not in text and "工单" not in text and "处理中" not in text


async def test_a_texts_link_opens_its_order_and_an_expired_one_offers_the_phone_form(
    world: PageWorld, phone: Page
) -> None:
    order_id = await world.shipped("SH-2001", ALICE, T0)
    link = world.link(order_id)
    await phone.goto(world.url + link)
    order = phone.get_by_test_id("order")
    await expect(order).to_contain_text("SH-2001")
    await expect(order.get_by_test_id("state")).to_contain_text("运输中")
    await expect(order.get_by_test_id("timeline")).to_contain_text("【杭州转运中心】")

    world.clock.advance(timedelta(days=8))  # past [sms].link_ttl
    await phone.goto(world.url + link)
    await expect(phone.get_by_test_id("error")).to_have_text(
        "这个链接已过期或不完整。请用手机号和验证码查询您的订单。"
    )
    await expect(phone.get_by_test_id("order")).to_have_count(0)
    await expect(phone.get_by_test_id("phone-form")).to_be_visible()
    await shot(phone, "link-expired")


async def test_five_wrong_codes_and_the_code_is_dead(world: PageWorld, phone: Page) -> None:
    await world.order("SH-3001", ALICE)
    code = await ask_code(world, phone, ALICE)
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        await phone.get_by_test_id("code").fill(wrong)
        await phone.get_by_test_id("verify").click()
        await expect(phone.get_by_test_id("error")).to_have_text(
            f"验证码不正确, 还可以再试{left}次。"
        )
    await phone.get_by_test_id("code").fill(wrong)
    await phone.get_by_test_id("verify").click()
    used_up = "验证码输错次数太多, 已经失效, 请重新获取验证码。"
    await expect(phone.get_by_test_id("error")).to_have_text(used_up)
    await shot(phone, "wrong-code")
    await phone.get_by_test_id("code").fill(code)  # the right one, too late
    await phone.get_by_test_id("verify").click()
    await expect(phone.get_by_test_id("error")).to_have_text(used_up)
    await expect(phone.get_by_test_id("order")).to_have_count(0)


async def test_a_number_without_orders_is_told_so_after_its_code(
    world: PageWorld, phone: Page
) -> None:
    await world.order("SH-4001", ALICE)
    code = await ask_code(world, phone, BOB)
    await phone.get_by_test_id("code").fill(code)
    await phone.get_by_test_id("verify").click()
    await expect(phone.get_by_test_id("no-orders")).to_have_text("近90天没有查到订单。")
    await expect(phone.get_by_test_id("order")).to_have_count(0)
    await phone.get_by_test_id("logout").click()
    await expect(phone.get_by_test_id("phone-form")).to_be_visible()
