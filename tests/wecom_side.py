"""The WeCom side of chat tests: a sandbox that knows the test config's people, a bot wired to
it, and helpers that type into WeCom and read what the bot answered there."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from bot.keys import RULES, SESSIONS
from jobs import watch
from sandbox import SandboxConfig, send_aibot_callback, send_app_callback
from sandbox.config import DEFAULT_ENCODING_AES_KEY, robot_chat_id
from services.config import Config, parse_config
from tests.support import auth, config_data, shop_order

SANDBOX = SandboxConfig(
    webhook_keys={"key-east": "华东组"},
    users=("zhang", "li", "wang", "boss-east", "boss-vip", "kefu", "caiwu", "ops-liu", "outsider"),
)


def bot_config(database_url: str, sandbox_url: str, **wecom: Any) -> Config:
    data = config_data(database_url)
    data["groups"]["east"]["webhook_key"] = "key-east"
    data["wecom"] = {
        "api_base": sandbox_url,
        "corp_id": SANDBOX.corp_id,
        "corp_secret": SANDBOX.corp_secret,
        "agent_id": SANDBOX.agent_id,
        "callback_token": SANDBOX.callback_token,
        "callback_aes_key": DEFAULT_ENCODING_AES_KEY,
    } | wecom
    return parse_config(data)


def wecom_side(bot: TestClient) -> SandboxConfig:
    """The sandbox acting as WeCom towards this bot."""
    return dataclasses.replace(
        SANDBOX,
        callback_url=str(bot.make_url("/wecom/app")),
        aibot_callback_url=str(bot.make_url("/wecom/aibot")),
    )


async def sandbox_records(sandbox: TestServer) -> list[dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(sandbox.make_url("/sandbox/api/messages")) as response,
    ):
        records: list[dict[str, Any]] = (await response.json())["messages"]
        return records


async def replies_to(sandbox: TestServer, user: str, count: int = 1) -> list[str]:
    """What the bot answered ``user`` through the app, waiting briefly for background replies."""
    for _ in range(100):
        texts = [
            r["content"] or str(r["body"])
            for r in await sandbox_records(sandbox)
            if r["direction"] == "out" and user in r["users"]
        ]
        if len(texts) >= count:
            return texts
        await asyncio.sleep(0.05)
    raise AssertionError(f"no reply to {user}")


async def overdue_ticket(bot: TestClient, order_no: str = "SH100") -> None:
    """An order paid three hours ago in 上海 (the east group), and the watch's ticket for it."""
    paid = datetime.now(UTC) - timedelta(hours=3)
    order = shop_order(order_no, province="上海市", paid_at=paid)
    response = await bot.post("/api/v1/orders/shop", json=order, headers=auth("all"))
    assert response.status == 200
    await watch.run(bot.app[SESSIONS], bot.app[RULES].current(), datetime.now(UTC))


Chat = Literal["group", "direct"]


async def type_in_wecom(
    bot: TestClient, sandbox: TestServer, chat: Chat, user: str, text: str
) -> str:
    """Type ``text`` as ``user``: @订单助手 in the east group's chat (the intelligent robot's
    callback, answered through its response_url) or 1:1 to the app; return the answer."""
    seen = len(await sandbox_records(sandbox))
    async with aiohttp.ClientSession() as http:
        if chat == "group":
            response = await send_aibot_callback(
                wecom_side(bot),
                http,
                robot_chat_id("key-east"),
                "group",
                user,
                f"@订单助手 {text}",
                sandbox_url=str(sandbox.make_url("/")),
            )
        else:
            response = await send_app_callback(wecom_side(bot), http, user, text)
        assert response.status == 200
    endpoint = "aibot/response" if chat == "group" else "message/send"
    for _ in range(200):
        answers = [
            r
            for r in (await sandbox_records(sandbox))[seen:]
            if r["direction"] == "out" and r["endpoint"] == endpoint
        ]
        if answers:
            [answer] = answers
            return str(answer["content"] or answer["body"])
        await asyncio.sleep(0.025)
    raise AssertionError(f"no answer to {text!r} from {user} in the {chat} chat")
