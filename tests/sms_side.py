"""The SMS side of tests: a config with [sms] for either provider, pointed at the sandbox's
SMS provider, and the app and sandbox wired together."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import create_app
from bot.keys import RULES, SESSIONS
from bot.sms import SMS_SENDER
from sandbox import SandboxConfig, create_sandbox_app
from sandbox.sms_config import SmsSandboxConfig
from services.config import parse_config
from services.sms.links import order_link
from services.sms.notify import notify_customer
from services.sms.sender import SmsTickResult
from storage.models import Order, SmsMessage
from tests.support import FakeClock, auth, config_data, shop_order

SECRET_ID = "AKIDsandboxsecretid"
SECRET_KEY = "sandbox-secret-key"
SDK_APP_ID = "1400009099"
SIGN = "某某旗舰店"
LINK_BASE = "https://h5.example.com/o/"
# A text the provider accepted: its delivery receipt may already be in when a test looks.
ACCEPTED = ("sent", "delivered")
TEMPLATES = {
    "tencent": {
        "stall": "1100001",
        "rejected": "1100002",
        "returning": "1100003",
        "returned": "1100004",
        "code": "1100005",
    },
    "aliyun": {
        "stall": "SMS_900001",
        "rejected": "SMS_900002",
        "returning": "SMS_900003",
        "returned": "SMS_900004",
        "code": "SMS_900005",
    },
}


def sms_section(provider: str, endpoint: str | None = None) -> dict[str, Any]:
    section: dict[str, Any] = {
        "provider": provider,
        "secret_id": SECRET_ID,
        "secret_key": SECRET_KEY,
        "sign_name": SIGN,
        "templates": TEMPLATES[provider],
        "link_base": LINK_BASE,
        "link_secret": "link-secret-for-tests",
        "send_interval": "1s",
    }
    if provider == "tencent":
        section["sdk_app_id"] = SDK_APP_ID
    if endpoint is not None:
        section["endpoint"] = endpoint
    return section


def sms_config_data(
    database_url: str, provider: str = "tencent", endpoint: str | None = None
) -> dict[str, Any]:
    return config_data(database_url) | {"sms": sms_section(provider, endpoint)}


async def add_order(
    client: TestClient, order_no: str, phone: str = "13812345678", at: datetime | None = None
) -> int:
    """An order through the API (its receiver's phone ``phone``); its id."""
    order = shop_order(order_no, **({"paid_at": at} if at else {}))
    order["receiver"]["mobile"] = phone
    response = await client.post("/api/v1/orders/shop", json=[order], headers=auth("all"))
    assert response.status == 200, await response.text()
    async with client.app[SESSIONS]() as session:
        found = await session.scalar(select(Order.id).where(Order.channel_order_id == order_no))
    assert found is not None
    return found


async def texts(client: TestClient) -> list[SmsMessage]:
    async with client.app[SESSIONS]() as session:
        return list((await session.scalars(select(SmsMessage).order_by(SmsMessage.id))).all())


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def notify(
    bot: TestClient, order_id: int, dedup_key: str, now: datetime, **kwargs: Any
) -> bool:
    """notify_customer of a stall (unless told otherwise) to 138****5678, with the order's
    signed link."""
    policy = bot.app[RULES].current()
    args: dict[str, Any] = {
        "phone": "13812345678",
        "purpose": "stall",
        "params": {
            "place": "杭州转运中心",
            "silence": "24小时",
            "link": order_link(policy, order_id, now),
        },
        "now": now,
    } | kwargs
    async with bot.app[SESSIONS].begin() as session:
        return await notify_customer(
            session, policy, order_id=order_id, dedup_key=dedup_key, **args
        )


@dataclass
class SmsWorld:
    """The bot (its timers off: the test ticks) and the sandbox playing the SMS provider,
    on one FakeClock; the sandbox POSTs receipts to the bot."""

    bot: TestClient
    sandbox: TestServer
    clock: FakeClock
    provider: str

    async def tick(self) -> SmsTickResult:
        return await self.bot.app[SMS_SENDER].tick()

    async def notify(self, order_id: int, dedup_key: str, **kwargs: Any) -> bool:
        return await notify(self.bot, order_id, dedup_key, self.clock.now(), **kwargs)

    async def _sandbox(self, method: str, path: str, body: Any = None) -> Any:
        url = self.sandbox.make_url(path)
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, url, json=body) as response,
        ):
            assert response.status == 200, await response.text()
            return await response.json()

    async def slow(self, seconds: float) -> None:
        await self._sandbox("POST", "/sandbox/api/sms/slow", {"seconds": seconds})

    async def phones(self) -> list[dict[str, Any]]:
        """What the sandbox's phones received (by masked number)."""
        return list((await self._sandbox("GET", "/sandbox/api/sms"))["phones"])

    async def down(self, seconds: float) -> None:
        await self._sandbox("POST", "/sandbox/api/sms/down", {"seconds": seconds})

    async def receipts_in(self, count: int) -> list[SmsMessage]:
        """The texts once ``count`` of them carry a receipt (waits up to 5 s)."""
        for _ in range(100):
            rows = await texts(self.bot)
            if sum(1 for r in rows if r.receipt_at is not None) >= count:
                return rows
            await asyncio.sleep(0.05)
        raise AssertionError(f"fewer than {count} receipts: {rows}")


async def sms_world(
    aiohttp_client: Any,
    aiohttp_server: Any,
    unused_port: int,
    database_url: str,
    provider: str,
    clock: FakeClock,
    sandbox_sms: SmsSandboxConfig | None = None,
    templates: dict[str, str] | None = None,
    **sms_keys: Any,
) -> SmsWorld:
    receipts = {
        f"{name}_receipt_url": f"http://127.0.0.1:{unused_port}/sms/receipts/{name}"
        for name in ("tencent", "aliyun")
    }
    sms = replace(sandbox_sms or SmsSandboxConfig(), **receipts)
    sandbox_app = create_sandbox_app(SandboxConfig(sms=sms), clock=lambda: clock.now().timestamp())
    sandbox: TestServer = await aiohttp_server(sandbox_app, access_log=None)
    data = sms_config_data(database_url, provider, f"127.0.0.1:{sandbox.port}")  # plain HTTP
    if templates is not None:
        data["sms"]["templates"] = templates
    data["sms"] |= sms_keys
    app = create_app(parse_config(data), clock=clock, watch_timer=False)
    bot: TestClient = await aiohttp_client(TestServer(app, port=unused_port))
    return SmsWorld(bot, sandbox, clock, provider)
