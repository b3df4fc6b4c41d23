"""The outbox sender end to end: orders in through the API, the watch ticks, the sender
delivers through the WeCom sandbox (a real HTTP server), and we read what WeCom accepted."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app, wecom_client
from bot.config import Config, parse_config
from bot.keys import POLICY, SESSIONS
from bot.reports import load_report
from bot.sandbox import SandboxConfig, create_sandbox_app
from bot.wecom.client import WeComClient
from jobs import deliver, watch
from rules.report import Period
from rules.report_chart import render_chart
from storage.models import OutboxMessage, TicketEvent
from storage.tickets import notice_row, queue_messages
from tests.support import T0, FakeClock, all_rows, auth, config_data, shop_order

H = timedelta(hours=1)
SANDBOX = SandboxConfig(
    webhook_keys={"key-east": "华东组", "key-vip": "大额组", "key-general": "综合组"},
    users=("boss-east", "boss-vip", "zhang", "li", "wang", "ops-liu"),
)


@pytest.fixture
async def sandbox(aiohttp_server: Any) -> TestServer:
    server: TestServer = await aiohttp_server(create_sandbox_app(SANDBOX))
    return server


ROBOTS = {"east": "key-east", "vip": "key-vip", "general": "key-general"}


def bot_config(
    database_url: str, sandbox: TestServer, robots: dict[str, str] = ROBOTS, **wecom: Any
) -> Config:
    data = config_data(database_url)
    for group, key in robots.items():
        data["groups"][group]["webhook_key"] = key
    data["wecom"] = {
        "api_base": str(sandbox.make_url("/cgi-bin/")),
        "corp_id": SANDBOX.corp_id,
        "corp_secret": SANDBOX.corp_secret,
        "agent_id": SANDBOX.agent_id,
        "group_wait": "10s",
        "group_interval": "30s",
    } | wecom
    return parse_config(data)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


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
        await watch.run(self.client.app[SESSIONS], self.client.app[POLICY], at)

    async def deliver(self, at: datetime, instance: str = "test") -> deliver.DeliveryResult:
        self.clock.current = at
        app = self.client.app
        return await deliver.run(app[SESSIONS], app[POLICY], self.wecom, self.clock, instance)

    async def outbox(self) -> list[OutboxMessage]:
        return await all_rows(self.client.app[SESSIONS], OutboxMessage)


async def make_bot(
    aiohttp_client: Any, config: Config, clock: FakeClock, http: aiohttp.ClientSession
) -> Bot:
    client = await aiohttp_client(create_app(config, clock=clock, watch_timer=False))
    assert config.wecom is not None
    wecom = wecom_client(http, config.wecom)
    return Bot(client, clock, wecom)


@pytest.fixture
async def bot(
    aiohttp_client: Any,
    database_url: str,
    sandbox: TestServer,
    clock: FakeClock,
    http: aiohttp.ClientSession,
) -> Bot:
    return await make_bot(aiohttp_client, bot_config(database_url, sandbox), clock, http)


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


async def test_an_alert_reaches_the_group_chat_after_group_wait(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    await bot.post(shop_order("SH001", province="上海市"))
    await bot.tick(T0 + 2 * H)
    assert (await bot.deliver(T0 + 2 * H + timedelta(seconds=9))).messages_sent == 0
    result = await bot.deliver(T0 + 2 * H + timedelta(seconds=10))
    assert (result.messages_sent, result.notifications_delivered) == (1, 1)
    [message] = await accepted(sandbox, http)
    body = text_of(message)
    assert "SH001" in body and "认领 1" in body and "<@zhang>" in body
    [row] = await bot.outbox()
    assert row.status == "sent"
    events = await all_rows(bot.client.app[SESSIONS], TicketEvent)
    assert [e.kind for e in events] == ["alerted"]


async def test_an_escalation_reaches_the_supervisor_directly(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    await bot.post(shop_order("SH002", province="上海市"))
    await bot.tick(T0 + 5 * H)
    await bot.deliver(T0 + 5 * H + timedelta(seconds=10))
    messages = await accepted(sandbox, http)
    assert len(messages) == 2
    assert any("boss-east" in text_of(m) and "超时第1次升级" in text_of(m) for m in messages)
    assert {row.status for row in await bot.outbox()} == {"sent"}


async def test_a_burst_in_one_group_becomes_one_digest(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    await bot.post(*(shop_order(f"SH{n:04d}", province="上海市") for n in range(30)))
    await bot.tick(T0 + 2 * H)
    result = await bot.deliver(T0 + 2 * H + timedelta(seconds=10))
    assert (result.messages_sent, result.notifications_delivered) == (1, 30)
    [message] = await accepted(sandbox, http)
    body = text_of(message)
    assert "超时工单 30 张" in body and all(f"SH{n:04d}" in body for n in range(30))


async def test_a_storm_is_complete_within_the_robot_limit(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    orders = 2000
    for start in range(0, orders, 1000):
        await bot.post(
            *(shop_order(f"SH{n:05d}", province="上海市") for n in range(start, start + 1000))
        )
    await bot.tick(T0 + 2 * H)
    result = await bot.deliver(T0 + 2 * H + timedelta(seconds=10))
    assert result.notifications_delivered == orders
    messages = await accepted(sandbox, http)
    assert len(messages) <= 20
    files = [m for m in messages if "file" in text_of(m)]
    assert len(files) == 1
    media_id = files[0]["body"]["file"]["media_id"]
    async with http.get(sandbox.make_url(f"/sandbox/api/media/{media_id}")) as response:
        rows = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert {row[1] for row in rows[1:]} == {f"SH{n:05d}" for n in range(orders)}
    counts = await stats(sandbox, http)
    assert counts["refused"] == {}
    assert max(counts["robot_per_minute_max"].values()) <= 20


@pytest.mark.parametrize(
    "spec",
    [
        {"endpoint": "webhook/send", "kind": "errcode", "errcode": 45009, "count": 2},
        {"endpoint": "webhook/send", "kind": "http500", "count": 2},
    ],
    ids=["45009-burst", "http-500"],
)
async def test_retryable_failures_delay_but_deliver_once(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession, spec: dict[str, Any]
) -> None:
    await bot.post(shop_order("SH003", province="上海市"))
    await bot.tick(T0 + 2 * H)
    await fault(sandbox, http, **spec)
    at = T0 + 2 * H + timedelta(seconds=10)
    for _ in range(3):
        result = await bot.deliver(at)
        at += timedelta(minutes=6)  # past any backoff
    messages = await accepted(sandbox, http)
    assert len([m for m in messages if "SH003" in text_of(m)]) == 1
    assert result.notifications_delivered == 1
    [row] = await bot.outbox()
    assert row.status == "sent"


async def test_token_expiry_mid_run_is_invisible(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    await bot.post(shop_order("SH004", province="上海市"), shop_order("SH005", province="上海市"))
    await bot.tick(T0 + 5 * H)
    await bot.deliver(T0 + 5 * H + timedelta(seconds=10))
    async with http.post(sandbox.make_url("/sandbox/api/expire-tokens")) as response:
        assert response.status == 200
    await bot.post(shop_order("SH006", province="上海市", paid_at=T0 + H))
    await bot.tick(T0 + 6 * H)
    await bot.deliver(T0 + 6 * H + timedelta(seconds=10))
    supervisor = [m for m in await accepted(sandbox, http) if "boss-east" in text_of(m)]
    assert len(supervisor) == 2 and "SH006" in text_of(supervisor[1])
    assert {row.status for row in await bot.outbox()} == {"sent"}


async def test_a_bad_webhook_key_dead_letters_with_its_reason_and_tells_ops_once(
    aiohttp_client: Any,
    database_url: str,
    sandbox: TestServer,
    clock: FakeClock,
    http: aiohttp.ClientSession,
) -> None:
    config = bot_config(database_url, sandbox, ROBOTS | {"east": "key-removed"})
    bot = await make_bot(aiohttp_client, config, clock, http)
    await bot.post(shop_order("SH007", province="上海市"), shop_order("SH008", province="上海市"))
    await bot.tick(T0 + 2 * H)
    result = await bot.deliver(T0 + 2 * H + timedelta(seconds=10))
    assert result.dead == 2
    rows = await bot.outbox()
    dead = [r for r in rows if r.status == "dead"]
    assert len(dead) == 2 and all("93000" in (r.dead_reason or "") for r in dead)
    ops = [r for r in rows if r.kind == "ops"]
    assert [(r.target_kind, r.target) for r in ops] == [("user", "ops-liu")]
    await bot.deliver(T0 + 2 * H + timedelta(seconds=30))
    [notice] = await accepted(sandbox, http)
    assert "ops-liu" in text_of(notice) and "93000" in text_of(notice)


async def test_a_sender_killed_mid_send_loses_nothing(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    await bot.post(shop_order("SH009", province="上海市"))
    await bot.tick(T0 + 2 * H)
    await fault(sandbox, http, endpoint="webhook/send", kind="timeout", count=1)
    at = T0 + 2 * H + timedelta(seconds=10)
    killed = asyncio.create_task(bot.deliver(at, instance="doomed"))
    await asyncio.sleep(0.5)
    killed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await killed
    assert (await bot.outbox())[0].status == "pending"
    # Another instance must wait out the dead one's lease, then delivers.
    assert (await bot.deliver(at + timedelta(seconds=5), instance="other")).messages_sent == 0
    result = await bot.deliver(at + deliver.LEASE + timedelta(seconds=1), instance="other")
    assert result.notifications_delivered == 1
    assert [m for m in await accepted(sandbox, http) if "SH009" in text_of(m)]


async def test_a_ticket_that_closed_before_anyone_was_told_is_not_announced(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    await bot.post(shop_order("SH010", province="上海市"), shop_order("SH011", province="上海市"))
    await bot.tick(T0 + 2 * H)
    picked = {
        "channel": "shop",
        "order_id": "SH010",
        "event_id": "pick-SH010",
        "stage": "picking",
        "occurred_at": (T0 + 2 * H).isoformat(),
    }
    response = await bot.client.post("/api/v1/events", json=picked, headers=auth("wms"))
    assert response.status == 200
    await bot.deliver(T0 + 2 * H + timedelta(seconds=10))
    [message] = await accepted(sandbox, http)
    assert "SH011" in text_of(message) and "SH010" not in text_of(message)
    statuses = sorted((r.kind, r.status) for r in await bot.outbox())
    assert statuses == [("alert", "moot"), ("alert", "sent"), ("resolution", "moot")]


async def test_a_person_gets_no_more_app_messages_an_hour_than_wecom_allows(
    aiohttp_client: Any,
    database_url: str,
    sandbox: TestServer,
    clock: FakeClock,
    http: aiohttp.ClientSession,
) -> None:
    config = bot_config(database_url, sandbox, member_per_hour=2)
    bot = await make_bot(aiohttp_client, config, clock, http)
    for n in range(3):  # three escalations to boss-east, ten minutes apart
        paid = T0 + n * timedelta(minutes=10)
        await bot.post(shop_order(f"SH02{n}", province="上海市", paid_at=paid))
        await bot.tick(paid + 4 * H)
        result = await bot.deliver(paid + 4 * H + timedelta(seconds=10))
    assert result.deferred == 1  # the third waits for the hour to turn
    to_boss = [m for m in await accepted(sandbox, http) if "boss-east" in text_of(m)]
    assert len(to_boss) == 2
    late = await bot.deliver(T0 + 5 * H + timedelta(seconds=11))
    assert late.notifications_delivered >= 1
    assert len([m for m in await accepted(sandbox, http) if "boss-east" in text_of(m)]) == 3


async def test_a_chart_for_a_person_is_uploaded_then_sent_even_on_an_expired_token(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    await bot.post(shop_order("SH007", province="上海市"))
    await bot.tick(T0 + 5 * H)
    await bot.deliver(T0 + 5 * H + timedelta(seconds=10))  # the token is fetched and cached
    async with http.post(sandbox.make_url("/sandbox/api/expire-tokens")) as response:
        assert response.status == 200
    app = bot.client.app
    day = Period.ending(T0.date(), 1, ZoneInfo("Asia/Shanghai"))
    async with app[SESSIONS]() as session:
        chart = render_chart(await load_report(session, app[POLICY], day, T0))
    async with bot.client.app[SESSIONS].begin() as session:
        await queue_messages(
            session,
            [notice_row("report:1", "report", ("user", "boss-east"), "📊 报表", T0, image=chart)],
        )
    await bot.deliver(T0 + 6 * H)

    mine = [m for m in await accepted(sandbox, http) if "boss-east" in m["users"]]
    assert [m["msgtype"] for m in mine][-2:] == ["markdown", "image"]
    async with http.get(sandbox.make_url(mine[-1]["media"]["url"])) as png:
        assert await png.read() == chart
    assert {row.status for row in await bot.outbox()} == {"sent"}
