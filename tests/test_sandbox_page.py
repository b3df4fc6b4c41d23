"""The sandbox page in a real headless browser: an alert the bot sent shows in its group chat,
and a member typing "认领 42" there reaches the bot as WeCom's encrypted callback."""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import async_playwright, expect
from wechatpy.enterprise.crypto import WeChatCrypto

from adapters.sms import OutgoingText
from adapters.sms.aliyun import AliyunSms
from adapters.sms.tencent import TencentSms
from adapters.wecom.client import WeComClient
from adapters.wecom.messages import markdown
from sandbox import SandboxConfig, create_sandbox_app, robot_chat_id
from sandbox.sms_config import SANDBOX_LINK_BASE, SmsSandboxConfig

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def bot_inbox(aiohttp_server: Any) -> tuple[TestServer, list[dict[str, Any]]]:
    """Stands in for the bot's intelligent-robot callback: verifies, decrypts, records."""
    received: list[dict[str, Any]] = []
    base = SandboxConfig()
    crypto = WeChatCrypto(base.callback_token, base.encoding_aes_key, "")

    async def callback(request: web.Request) -> web.Response:
        body = await request.json()
        query = request.query
        plain = crypto.decrypt_message(
            {"Encrypt": body["encrypt"]},
            query["msg_signature"],
            query["timestamp"],
            query["nonce"],
        )
        received.append(json.loads(plain))
        return web.Response()

    app = web.Application()
    app.router.add_post("/callback/aibot", callback)
    return await aiohttp_server(app), received


async def east_sandbox(
    aiohttp_server: Any, bot_inbox: tuple[TestServer, list[dict[str, Any]]]
) -> tuple[TestServer, list[dict[str, Any]]]:
    """A sandbox with the east group's chat and two members, whose robot callbacks reach the
    inbox; and what the inbox received."""
    inbox, received = bot_inbox
    config = SandboxConfig(
        webhook_keys={"key-east": "华东处理组"},
        users=("zhangsan", "lisi"),
        aibot_callback_url=str(inbox.make_url("/callback/aibot")),
    )
    return await aiohttp_server(create_sandbox_app(config)), received


async def test_the_page_shows_alerts_and_sends_what_a_member_types(
    aiohttp_server: Any, bot_inbox: tuple[TestServer, list[dict[str, Any]]]
) -> None:
    sandbox, received = await east_sandbox(aiohttp_server, bot_inbox)
    async with aiohttp.ClientSession() as http:
        wecom = WeComClient(http, base_url=str(sandbox.make_url("/cgi-bin/")))
        await wecom.send_webhook("key-east", markdown("⏰ 订单超时 工单 #42\n订单: TB20240001"))

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = await browser.new_page()
        await page.goto(str(sandbox.make_url("/sandbox/")))
        group = page.get_by_test_id("groups")
        await expect(group.get_by_test_id("message").first).to_contain_text("工单 #42")
        await expect(group).to_contain_text("华东处理组")
        # when WeCom took it, in Beijing time as a Chinese member's client shows it
        beijing = datetime.now(ZoneInfo("Asia/Shanghai"))
        meta = await group.locator(".meta").first.inner_text()
        assert re.search(r" (\d{2}):\d{2}:\d{2} ", meta), meta
        assert int(re.search(r" (\d{2}):", meta)[1]) in {beijing.hour, (beijing.hour + 1) % 24}

        await page.get_by_test_id("say-user").fill("zhangsan")
        await page.get_by_test_id("say-target").select_option(label="群：华东处理组（@订单助手）")
        await page.get_by_test_id("say-text").fill("认领 42")
        await page.get_by_test_id("say-send").click()
        await expect(page.get_by_test_id("say-status")).not_to_be_empty()
        await expect(group).to_contain_text("认领 42")
        await browser.close()

    [message] = received
    assert message["from"]["userid"] == "zhangsan"
    assert message["chattype"] == "group"
    assert "认领 42" in message["text"]["content"]


STRANGER_REFUSED = "通讯录里没有成员「stranger」"


async def test_the_page_refuses_a_member_wecom_does_not_know(
    aiohttp_server: Any, bot_inbox: tuple[TestServer, list[dict[str, Any]]]
) -> None:
    sandbox, received = await east_sandbox(aiohttp_server, bot_inbox)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = await browser.new_page()
        says: list[str] = []
        page.on(
            "request",
            lambda request: says.append(request.url) if "api/say" in request.url else None,
        )
        await page.goto(str(sandbox.make_url("/sandbox/")))
        await expect(page.get_by_test_id("people")).to_contain_text("zhangsan")

        await page.get_by_test_id("say-user").fill("stranger")
        await page.get_by_test_id("say-target").select_option(label="群：华东处理组（@订单助手）")
        await page.get_by_test_id("say-text").fill("帮助")
        await page.get_by_test_id("say-send").click()
        status = page.get_by_test_id("say-status")
        await expect(status).to_contain_text(STRANGER_REFUSED)
        await expect(status).to_contain_text("zhangsan、lisi")
        await expect(status).to_have_class("error")
        await browser.close()

    assert says == []  # refused on the page: nothing was sent
    assert received == []


async def test_the_say_api_refuses_a_member_wecom_does_not_know(
    aiohttp_server: Any, bot_inbox: tuple[TestServer, list[dict[str, Any]]]
) -> None:
    sandbox, received = await east_sandbox(aiohttp_server, bot_inbox)
    say = sandbox.make_url("/sandbox/api/say")
    group = robot_chat_id("key-east")
    async with aiohttp.ClientSession() as http:
        async with http.post(say, json={"user": "stranger", "target": group, "text": "帮助"}) as r:
            assert r.status == 400
            assert (await r.json())["error"].startswith(STRANGER_REFUSED)
        async with http.get(sandbox.make_url("/sandbox/api/messages")) as r:
            assert (await r.json())["messages"] == []
        # WeCom's userids are case-insensitive: a known member typed in capitals is that member.
        async with http.post(say, json={"user": "ZhangSan", "target": group, "text": "帮助"}) as r:
            assert r.status == 200, await r.text()
    [message] = received
    assert message["from"]["userid"] == "zhangsan"


async def test_the_page_shows_each_phone_with_the_texts_it_received(aiohttp_server: Any) -> None:
    sandbox = await aiohttp_server(create_sandbox_app(SandboxConfig()))
    endpoint = f"http://127.0.0.1:{sandbox.port}"
    keys = {"secret_id": SmsSandboxConfig().secret_id, "secret_key": SmsSandboxConfig().secret_key}
    common = {"endpoint": endpoint, "timeout": timedelta(seconds=5), "link_base": SANDBOX_LINK_BASE}
    tencent = await TencentSms.create(
        **keys,
        sdk_app_id=SmsSandboxConfig().sdk_app_id,
        sign="某某旗舰店",
        region="ap-guangzhou",
        endpoint=endpoint,
        request_timeout=timedelta(seconds=5),
        link_base=SANDBOX_LINK_BASE,
    )
    aliyun = AliyunSms.create(**keys, sign="某某旗舰店", **common)
    stall = {"place": "杭州转运中心", "silence": "24小时", "link": SANDBOX_LINK_BASE + "42.abc.sig"}
    returned = {
        "carrier": "顺丰",
        "tracking_no": "SF1234567890",
        "link": SANDBOX_LINK_BASE + "7.x.y",
    }
    first = await tencent.send(OutgoingText("13812345678", "1100001", "stall", stall, "r1"))
    second = await aliyun.send(
        OutgoingText("13987654321", "SMS_900004", "returned", returned, "r2")
    )
    await tencent.close()
    assert (first.verdict, second.verdict) == ("sent", "sent")

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = await browser.new_page()
        await page.goto(str(sandbox.make_url("/sandbox/")))
        phones = page.get_by_test_id("phones")
        await expect(phones.get_by_test_id("phone")).to_have_count(2)
        mine = phones.get_by_test_id("phone").filter(has_text="138****5678")
        await expect(mine.get_by_test_id("sms")).to_contain_text(
            "【某某旗舰店】您的包裹在杭州转运中心已超过24小时没有更新, 我们已联系快递公司核实, "
            "查看进度: https://h5.example.com/o/42.abc.sig"
        )
        await expect(mine).to_contain_text("腾讯云短信")
        await expect(mine).to_contain_text("已送达")  # the carrier's receipt, after a moment
        other = phones.get_by_test_id("phone").filter(has_text="139****4321")
        await expect(other.get_by_test_id("sms")).to_contain_text(
            "【某某旗舰店】您的包裹(顺丰运单SF1234567890)已退回我们仓库"
        )
        await expect(other).to_contain_text("阿里云短信")
        assert "13812345678" not in await phones.inner_text()
        await browser.close()
