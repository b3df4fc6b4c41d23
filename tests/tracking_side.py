"""The carrier side of tracking tests: the sandbox playing 快递100 on a shared FakeClock, a bot
configured with [tracking] against it (its push URL known before it starts), and helpers that
ship an order, subscribe it, script scans and read what the bot kept."""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import create_app
from bot.keys import RULES, SESSIONS
from bot.tracking import PUSH_PATH, TRACKING
from jobs import subscribe
from sandbox import SandboxConfig, create_sandbox_app
from sandbox.tracking import sign
from services.config import Config, parse_config
from storage.models import Base, Order, Parcel, ParcelScan
from tests.support import T0, FakeClock, auth, config_data, shop_order

KEY, SALT = "sandbox-kuaidi100-key", "salt-of-the-test"
CARRIER = SandboxConfig(
    tracking_key=KEY,
    tracking_refused_numbers=("YT9999999999",),
    tracking_retry_seconds=0.05,
)


def tracked_config(
    database_url: str,
    api_base: str,
    callback_url: str,
    sms: dict[str, Any] | None = None,
    **more: Any,
) -> Config:
    """The test config with [tracking] (``more`` adds keys) and, given, [sms]."""
    data = config_data(database_url)
    if sms is not None:
        data["sms"] = sms
    data["routing"]["rules"].insert(
        0, {"name": "物流异常", "group": "east", "kinds": ["stall", "return"]}
    )
    data["tracking"] = {
        "api_base": api_base,
        "key": KEY,
        "salt": SALT,
        "callback_url": callback_url,
        "origin_province": "浙江省",
        "timeout": "2s",
    } | more
    return parse_config(data)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(name="carrier")
async def carrier_fixture(aiohttp_server: Any, clock: FakeClock) -> TestServer:
    """快递100 as the sandbox plays it, on the test's clock."""
    app = create_sandbox_app(CARRIER, clock=lambda: clock.now().timestamp())
    server: TestServer = await aiohttp_server(app)
    return server


BotFactory = Callable[..., Any]


@pytest.fixture(name="make_tracked")
def make_tracked_fixture(
    aiohttp_server: Any,
    aiohttp_client: Any,
    database_url: str,
    carrier: TestServer,
    clock: FakeClock,
) -> BotFactory:
    """Builds the bot with [tracking] pointing at the carrier sandbox (extra [tracking] keys
    may be given, and ``sms=`` an [sms] section)."""

    async def build(**more: Any) -> TestClient:
        port = free_port()
        callback_url = more.pop("callback_url", f"http://127.0.0.1:{port}{PUSH_PATH}")
        config = tracked_config(database_url, str(carrier.make_url("/")), callback_url, **more)
        server = await aiohttp_server(create_app(config, clock=clock, watch_timer=False), port=port)
        client: TestClient = await aiohttp_client(server)
        return client

    return build


@pytest.fixture(name="tracked")
async def tracked_fixture(make_tracked: BotFactory) -> TestClient:
    client: TestClient = await make_tracked()
    return client


def shipped_order(
    order_no: str,
    tracking_no: str,
    carrier: str = "圆通速递",
    shipped_at: datetime = T0,
    **more: Any,
) -> dict[str, Any]:
    """A self-built-shop order shipped with one waybill."""
    order = shop_order(order_no, **more)
    order["status"] = "SHIPPED"
    order["shipped_at"] = shipped_at.isoformat()
    order["waybills"] = [{"tracking_no": tracking_no, "carrier": carrier}]
    return order


async def ship(bot: TestClient, order: dict[str, Any]) -> None:
    response = await bot.post("/api/v1/orders/shop", json=order, headers=auth("all"))
    assert response.status == 200, await response.text()


async def tick_subscribe(bot: TestClient, now: datetime) -> subscribe.SubscribeResult:
    provider = bot.app[TRACKING]
    return await subscribe.run(bot.app[SESSIONS], bot.app[RULES].current(), provider, now)


async def carrier_state(carrier: TestServer) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(carrier.make_url("/sandbox/tracking/state")) as response,
    ):
        state: dict[str, Any] = await response.json()
        return state


async def scan(
    carrier: TestServer,
    clock: FakeClock,
    number: str,
    code: str,
    context: str,
    at: datetime,
    place: str | None = None,
) -> bool:
    """The carrier scans the parcel at ``at`` (the clock moves there, if it is behind), and
    快递100 pushes the whole trace. Whether the bot took it."""
    clock.current = max(clock.current, at)
    body = {"number": number, "state": code, "context": context, "time": at.isoformat()}
    if place:
        body["place"] = place
    async with (
        aiohttp.ClientSession() as http,
        http.post(carrier.make_url("/sandbox/tracking/scan"), json=body) as response,
    ):
        assert response.status == 200, await response.text()
        accepted: bool = (await response.json())["accepted"]
        return accepted


async def push_status(carrier: TestServer, number: str, status: str, message: str = "") -> bool:
    body = {"number": number, "status": status, "message": message}
    async with (
        aiohttp.ClientSession() as http,
        http.post(carrier.make_url("/sandbox/tracking/push"), json=body) as response,
    ):
        assert response.status == 200, await response.text()
        accepted: bool = (await response.json())["accepted"]
        return accepted


def signed_push(param: dict[str, Any], salt: str = SALT) -> dict[str, str]:
    text = orjson.dumps(param).decode()
    return {"param": text, "sign": sign(text, salt)}


def push_param(
    number: str, items: list[tuple[str, str, datetime]], com: str = "yuantong"
) -> dict[str, Any]:
    """A 快递100 push of ``items`` (code, words, time), newest first as given."""
    beijing = [(code, words, at + timedelta(hours=8)) for code, words, at in items]
    return {
        "status": "polling",
        "message": "",
        "lastResult": {
            "nu": number,
            "com": com,
            "state": items[0][0] if items else "0",
            "ischeck": "0",
            "data": [
                {
                    "context": words,
                    "ftime": local.strftime("%Y-%m-%d %H:%M:%S"),
                    "time": local.strftime("%Y-%m-%d %H:%M:%S"),
                    "statusCode": code,
                    "areaName": "",
                }
                for code, words, local in beijing
            ],
        },
    }


async def rows(bot: TestClient, model: type[Base]) -> list[Any]:
    async with bot.app[SESSIONS]() as session:
        return list((await session.scalars(select(model).order_by(model.id))).all())  # type: ignore[attr-defined]


async def parcel(bot: TestClient) -> Parcel:
    [found] = await rows(bot, Parcel)
    return found


async def order(bot: TestClient, order_no: str) -> Order:
    async with bot.app[SESSIONS]() as session:
        found = await session.scalar(select(Order).where(Order.channel_order_id == order_no))
        assert found is not None
        return found


async def scans(bot: TestClient) -> list[ParcelScan]:
    return await rows(bot, ParcelScan)
