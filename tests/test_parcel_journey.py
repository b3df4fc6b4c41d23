"""A parcel's whole journey through the sandbox, on one controllable clock: shipped, subscribed
with 快递100, scanned, 状态 saying where it is and when it arrives, silent for 24 hours (a stall
ticket for the logistics group and one text to the customer, held until 08:00 when the silence
ends at night), moving again (the ticket closes itself), refused at the door (a return ticket
at once); a forged push refused, a replayed one changing nothing, an outage of 快递100 retried.

The bot's timers are off: the test runs each job's tick as its timer would."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.keys import CONFIG, RULES, SESSIONS
from bot.sms import SMS_SENDER
from bot.tracking import PUSH_PATH
from jobs import eta, stalls
from sandbox import SandboxConfig, create_sandbox_app
from sandbox.sms_config import SmsSandboxConfig
from services.config import parse_config
from storage.models import OutboxMessage, Parcel, ParcelScan, Ticket
from tests.chat import say
from tests.sms_side import sms_section
from tests.support import T0, FakeClock, all_rows, config_data
from tests.tracking_side import (
    KEY,
    SALT,
    carrier_state,
    free_port,
    push_status,
    scan,
    ship,
    shipped_order,
    signed_push,
    tick_subscribe,
)

H = timedelta(hours=1)
M = timedelta(minutes=1)
PHONE = "13812345678"
# T0 is Monday 09:00 in Beijing: 揽收 at 10:00, at the hub at 12:00; 24 hours later is Tuesday
# 12:00, daytime. The night parcel's last scan is on Monday at 22:30, so its silence ends on
# Tuesday at 22:30, in the quiet hours.
PICKED, AT_HUB = T0 + H, T0 + 3 * H
NIGHT_SCAN = T0 + 13 * H + 30 * M


@dataclass
class Journey:
    bot: TestClient
    sandbox: TestServer
    clock: FakeClock

    async def at(self, moment: datetime) -> None:
        self.clock.current = moment

    async def subscribe(self) -> Any:
        return await tick_subscribe(self.bot, self.clock.now())

    async def check_stalls(self) -> stalls.StallResult:
        app = self.bot.app
        return await stalls.run(app[SESSIONS], app[RULES].current(), self.clock.now())

    async def send_texts(self) -> Any:
        return await self.bot.app[SMS_SENDER].tick()

    async def scan(self, number: str, code: str, words: str, at: datetime, place: str) -> bool:
        return await scan(self.sandbox, self.clock, number, code, words, at, place)

    async def phone_texts(self) -> list[str]:
        async with (
            aiohttp.ClientSession() as http,
            http.get(self.sandbox.make_url("/sandbox/api/sms")) as response,
        ):
            phones = (await response.json())["phones"]
        return [text["content"] for phone in phones for text in phone["texts"]]

    async def rows(self, model: Any) -> list[Any]:
        return await all_rows(self.bot.app[SESSIONS], model)


@pytest.fixture(name="journey")
async def journey_fixture(
    aiohttp_server: Any, aiohttp_client: Any, database_url: str, clock: FakeClock
) -> Journey:
    """The sandbox playing 快递100 and Tencent Cloud SMS, and the bot with [tracking] and [sms]
    against it; parcel troubles are routed to the east group (the logistics group here)."""
    port = free_port()
    bot_url = f"http://127.0.0.1:{port}"
    sandbox_config = SandboxConfig(
        tracking_key=KEY,
        tracking_retry_seconds=0.05,
        sms=SmsSandboxConfig(tencent_receipt_url=f"{bot_url}/sms/receipts/tencent"),
    )
    sandbox_app = create_sandbox_app(sandbox_config, clock=lambda: clock.now().timestamp())
    sandbox: TestServer = await aiohttp_server(sandbox_app)
    data = config_data(database_url)
    data["routing"]["rules"].insert(
        0, {"name": "物流异常", "group": "east", "kinds": ["stall", "return"]}
    )
    data["tracking"] = {
        "api_base": str(sandbox.make_url("/")),
        "key": KEY,
        "salt": SALT,
        "callback_url": f"{bot_url}{PUSH_PATH}",
        "origin_province": "浙江省",
        "notify_customer": ["stall", "rejected"],
    }
    data["sms"] = sms_section("tencent", f"127.0.0.1:{sandbox.port}")
    app = create_app(parse_config(data), clock=clock, watch_timer=False)
    bot: TestClient = await aiohttp_client(await aiohttp_server(app, port=port))
    return Journey(bot, sandbox, clock)


async def ship_parcel(journey: Journey, order_no: str, tracking_no: str) -> None:
    order = shipped_order(order_no, tracking_no, carrier="圆通速递", shipped_at=T0)
    order["receiver"]["mobile"] = PHONE
    await ship(journey.bot, order)


async def test_a_parcel_from_shipping_through_a_stall_to_the_door(journey: Journey) -> None:
    await ship_parcel(journey, "SH1", "YT0000000001")
    await journey.at(T0 + M)
    assert (await journey.subscribe()).accepted == 1
    [followed] = (await carrier_state(journey.sandbox))["subscriptions"]
    assert (followed["number"], followed["company"]) == ("YT0000000001", "yuantong")

    assert await journey.scan("YT0000000001", "1", "【杭州】快递员已揽件", PICKED, "杭州市")
    assert await journey.scan(
        "YT0000000001", "0", "快件已到达【杭州转运中心】", AT_HUB, "杭州转运中心"
    )
    await eta.run(journey.bot.app[SESSIONS], journey.bot.app[CONFIG].eta, AT_HUB)
    status = await say(journey.bot, "zhang", "状态 SH1", now=AT_HUB + M)
    assert "物流: 运输中, 预计3月5日送达" in status  # ship day + the default 72 h
    assert "快件已到达【杭州转运中心】" in status

    # 24 hours without a scan: a stall ticket for the logistics group, one text.
    await journey.at(AT_HUB + 24 * H - M)
    assert await journey.check_stalls() == stalls.StallResult()
    await journey.at(AT_HUB + 24 * H + M)
    assert await journey.check_stalls() == stalls.StallResult(checked=1, opened=1, texted=1)
    [ticket] = await journey.rows(Ticket)
    assert (ticket.kind, ticket.status, ticket.group_key) == ("stall", "open", "east")
    assert ticket.summary == (
        "圆通 YT0000000001: 包裹在【杭州转运中心】已超过24小时没有更新 (最后一次扫描 3月2日 12:00)"
    )
    alerts = [m for m in await journey.rows(OutboxMessage) if m.ticket_id == ticket.id]
    assert [(m.kind, m.target) for m in alerts] == [("alert", "east")]
    assert (await journey.send_texts()).sent == 1
    [text] = await journey.phone_texts()
    assert "您的包裹在杭州转运中心已超过24小时没有更新" in text
    assert "https://h5.example.com/o/" in text
    assert await journey.check_stalls() == stalls.StallResult()  # one ticket, one text
    assert (await journey.send_texts()).sent == 0

    # The parcel moves: the ticket closes itself and says why.
    moved = AT_HUB + 26 * H
    assert await journey.scan("YT0000000001", "0", "快件已到达【上海转运中心】", moved, "上海")
    [ticket] = await journey.rows(Ticket)
    assert (ticket.status, ticket.resolution) == ("resolved", "auto")
    closing = [m for m in await journey.rows(OutboxMessage) if m.kind == "resolution"]
    assert [m.ticket_id for m in closing] == [ticket.id]
    status = await say(journey.bot, "zhang", "状态 SH1", now=moved + M)
    assert "物流: 运输中, 比预计晚" not in status and "上海转运中心" in status

    # Signed for at the door: the order is delivered, the parcel is no longer checked.
    assert await journey.scan("YT0000000001", "3", "已签收, 签收人: 本人", moved + 5 * H, "上海")
    [parcel] = await journey.rows(Parcel)
    assert (parcel.state, parcel.stall_check_at) == ("delivered", None)
    assert "已签收" in await say(journey.bot, "zhang", "状态 SH1", now=moved + 6 * H)


async def test_a_parcel_never_picked_up_stalls_a_day_after_shipping(journey: Journey) -> None:
    await ship_parcel(journey, "SH6", "YT0000000006")
    await journey.subscribe()

    await journey.at(T0 + 24 * H - M)
    assert await journey.check_stalls() == stalls.StallResult()
    await journey.at(T0 + 24 * H)
    assert await journey.check_stalls() == stalls.StallResult(checked=1, opened=1, texted=1)
    [ticket] = await journey.rows(Ticket)
    assert ticket.summary == "圆通 YT0000000006: 发货后已超过24小时没有揽收扫描 (发货 3月2日 09:00)"


async def test_a_silence_ending_at_night_texts_the_customer_at_eight(journey: Journey) -> None:
    await ship_parcel(journey, "SH2", "YT0000000002")
    await journey.subscribe()
    await journey.scan("YT0000000002", "0", "快件已到达【南京转运中心】", NIGHT_SCAN, "南京")

    await journey.at(NIGHT_SCAN + 24 * H + M)  # Tuesday 22:31 in Beijing
    assert (await journey.check_stalls()).texted == 1
    assert (await journey.send_texts()).sent == 0
    await journey.at(T0 + 47 * H - M)  # Wednesday 07:59
    assert (await journey.send_texts()).sent == 0
    await journey.at(T0 + 47 * H)  # Wednesday 08:00
    assert (await journey.send_texts()).sent == 1
    assert len(await journey.phone_texts()) == 1


async def test_refused_at_the_door_opens_a_return_ticket_at_once(journey: Journey) -> None:
    await ship_parcel(journey, "SH3", "YT0000000003")
    await journey.subscribe()
    refused = AT_HUB + 5 * H
    assert await journey.scan("YT0000000003", "14", "收件人拒收, 包裹将退回", refused, "上海")
    [ticket] = await journey.rows(Ticket)
    assert (ticket.kind, ticket.status, ticket.group_key) == ("return", "open", "east")
    assert ticket.summary is not None and "收件人拒收, 包裹将退回" in ticket.summary
    assert "工单类型=拒签退回" in ticket.route_reason
    assert (await journey.send_texts()).sent == 1  # "rejected" is in notify_customer
    [text] = await journey.phone_texts()
    assert "YT0000000003" in text


async def test_forged_and_replayed_pushes_change_nothing(journey: Journey) -> None:
    await ship_parcel(journey, "SH4", "YT0000000004")
    await journey.subscribe()
    assert await journey.scan("YT0000000004", "0", "快件已到达【杭州转运中心】", AT_HUB, "杭州")
    before = [(s.at, s.text) for s in await journey.rows(ParcelScan)]

    assert await push_status(journey.sandbox, "YT0000000004", "updateall")  # the same trace
    forged = signed_push(
        {
            "status": "polling",
            "lastResult": {
                "nu": "YT0000000004",
                "com": "yuantong",
                "state": "3",
                "data": [{"context": "已签收", "ftime": "2026-03-02 13:00:00", "time": ""}],
            },
        },
        salt="not-the-salt",
    )
    answer = await journey.bot.post(PUSH_PATH, data=forged)
    assert answer.status == 403
    assert (await answer.json())["result"] is False

    assert [(s.at, s.text) for s in await journey.rows(ParcelScan)] == before
    [parcel] = await journey.rows(Parcel)
    assert parcel.state == "in_transit"


async def test_an_hour_of_kuaidi100_down_delays_the_subscription(journey: Journey) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            journey.sandbox.make_url("/sandbox/tracking/down"), json={"seconds": 3600}
        ) as response,
    ):
        assert response.status == 200
    await ship_parcel(journey, "SH5", "YT0000000005")
    for minutes in (1, 10, 30, 59):
        await journey.at(T0 + minutes * M)
        assert (await journey.subscribe()).accepted == 0
    assert (await carrier_state(journey.sandbox))["subscriptions"] == []
    [parcel] = await journey.rows(Parcel)
    assert parcel.subscription == "pending" and parcel.subscribe_error

    await journey.at(T0 + 2 * H)  # back, and past any backoff
    assert (await journey.subscribe()).accepted == 1
    assert [s["number"] for s in (await carrier_state(journey.sandbox))["subscriptions"]] == [
        "YT0000000005"
    ]
