"""The outbox sender's side of tests: a sandbox with three group robots and the config's
people, a bot ticked by hand with a sender wired to it, and what WeCom accepted."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from adapters.wecom.client import WeComClient
from bot.app import create_app, wecom_client
from bot.keys import RULES, SESSIONS
from jobs import deliver, watch
from sandbox import SandboxConfig
from services.config import Config, parse_config
from storage.models import OutboxMessage
from tests.support import FakeClock, all_rows, auth, config_data

SANDBOX = SandboxConfig(
    webhook_keys={"key-east": "华东组", "key-vip": "大额组", "key-general": "综合组"},
    users=("boss-east", "boss-vip", "zhang", "li", "wang", "ops-liu"),
)
ROBOTS = {"east": "key-east", "vip": "key-vip", "general": "key-general"}
ORDER_NO = re.compile(r"SH\d+")


def bot_config(
    database_url: str,
    sandbox: TestServer,
    robots: dict[str, str] = ROBOTS,
    watch: dict[str, Any] | None = None,
    **wecom: Any,
) -> Config:
    data = config_data(database_url)
    for group, key in robots.items():
        data["groups"][group]["webhook_key"] = key
    data["watch"] |= watch or {}
    data["wecom"] = {
        "api_base": str(sandbox.make_url("/cgi-bin/")),
        "corp_id": SANDBOX.corp_id,
        "corp_secret": SANDBOX.corp_secret,
        "agent_id": SANDBOX.agent_id,
        "group_wait": "10s",
        "group_interval": "30s",
    } | wecom
    return parse_config(data)


class Bot:
    """The bot's app (ticked by hand) and a sender wired to the sandbox."""

    def __init__(self, client: TestClient, clock: FakeClock, wecom: WeComClient) -> None:
        self.client, self.clock, self.wecom = client, clock, wecom

    async def post(self, *orders: dict[str, Any]) -> None:
        response = await self.client.post(
            "/api/v1/orders/shop", json=list(orders), headers=auth("all")
        )
        assert response.status == 200, await response.text()

    async def tick(self, at: datetime) -> None:
        self.clock.current = at
        await watch.run(self.client.app[SESSIONS], self.client.app[RULES].current(), at)

    async def deliver(self, at: datetime, instance: str = "test") -> deliver.DeliveryResult:
        self.clock.current = at
        app = self.client.app
        return await deliver.run(
            app[SESSIONS], app[RULES].current(), self.wecom, self.clock, instance
        )

    async def outbox(self) -> list[OutboxMessage]:
        return await all_rows(self.client.app[SESSIONS], OutboxMessage)


BotWith = Callable[..., Awaitable["Bot"]]


async def make_bot(
    aiohttp_client: Any, config: Config, clock: FakeClock, http: aiohttp.ClientSession
) -> Bot:
    client = await aiohttp_client(create_app(config, clock=clock, watch_timer=False))
    assert config.wecom is not None
    wecom = wecom_client(http, config.wecom)
    return Bot(client, clock, wecom)


async def accepted(sandbox: TestServer, http: aiohttp.ClientSession) -> list[dict[str, Any]]:
    async with http.get(sandbox.make_url("/sandbox/api/messages")) as response:
        body = await response.json()
    return list(body["messages"] if isinstance(body, dict) else body)


async def stats(sandbox: TestServer, http: aiohttp.ClientSession) -> dict[str, Any]:
    async with http.get(sandbox.make_url("/sandbox/api/stats")) as response:
        result: dict[str, Any] = await response.json()
        return result


async def fault(sandbox: TestServer, http: aiohttp.ClientSession, **spec: Any) -> None:
    async with http.post(sandbox.make_url("/sandbox/api/faults"), json=spec) as response:
        assert response.status == 200, await response.text()


def text_of(message: dict[str, Any]) -> str:
    return str(message)


async def csv_rows(
    sandbox: TestServer, http: aiohttp.ClientSession, message: dict[str, Any]
) -> list[list[str]]:
    """The rows of the CSV file a message carries, header first."""
    async with http.get(sandbox.make_url(message["media"]["url"])) as response:
        return list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))


async def orders_in(
    sandbox: TestServer, http: aiohttp.ClientSession, message: dict[str, Any]
) -> set[str]:
    """The order numbers a message shows, in its text or in its file."""
    if message["msgtype"] == "file":
        return {row[1] for row in (await csv_rows(sandbox, http, message))[1:]}
    return set(ORDER_NO.findall(message["content"] or ""))
