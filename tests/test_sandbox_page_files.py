"""The sandbox page in a real headless browser: a file the app sends a member (the CSV of a
supervisor's digest) shows in the member's 1:1 chat as a document to open."""

from __future__ import annotations

from typing import Any

import aiohttp
from playwright.async_api import async_playwright, expect

from adapters.wecom.client import WeComClient
from adapters.wecom.messages import file, markdown
from sandbox import SandboxConfig, create_sandbox_app
from tests.test_sandbox_page import CHROMIUM, CHROMIUM_FLAGS


async def test_an_app_file_shows_in_the_members_chat_as_a_document(aiohttp_server: Any) -> None:
    config = SandboxConfig(users=("boss-east",))
    sandbox = await aiohttp_server(create_sandbox_app(config))
    csv_data = "工单,订单号\n1,SH0001\n".encode("utf-8-sig")
    async with aiohttp.ClientSession() as http:
        wecom = WeComClient(
            http,
            base_url=str(sandbox.make_url("/cgi-bin/")),
            corp_id=config.corp_id,
            corp_secret=config.corp_secret,
            agent_id=config.agent_id,
        )
        await wecom.send_app_message(["boss-east"], markdown("⏰ 超时工单 1000 张"))
        media_id = await wecom.upload_media("超时工单.csv", csv_data, kind="file")
        await wecom.send_app_message(["boss-east"], file(media_id))

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = await browser.new_page()
        await page.goto(str(sandbox.make_url("/sandbox/")))
        chat = page.get_by_test_id("people").get_by_test_id("chat")
        await expect(chat).to_contain_text("boss-east")
        await expect(chat.get_by_test_id("message").first).to_contain_text("超时工单 1000 张")
        link = chat.get_by_test_id("file-link")
        await expect(link).to_contain_text(f"📎 超时工单.csv ({len(csv_data)} 字节)")
        href = await link.get_attribute("href")
        await browser.close()

    assert href is not None
    async with (
        aiohttp.ClientSession() as http,
        http.get(sandbox.make_url("/sandbox/" + href)) as response,
    ):
        assert await response.read() == csv_data
