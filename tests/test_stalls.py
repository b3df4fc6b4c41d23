"""The stall check (jobs.stalls): a parcel silent for its carrier's limit opens a stall ticket
for the logistics group with the last scan's place and time, and its customer gets one text
per silence; the next silence, after a new scan, is a new episode."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.keys import RULES, SESSIONS
from jobs import stalls
from services.config import parse_config
from services.policy import Policy
from storage.models import OutboxMessage, Parcel, SmsMessage, Ticket
from tests.chat import say
from tests.parcel_side import (
    add_parcel,
    followed_parcel,
    scan_event,
    shipped_order,
    tracking_config,
)
from tests.sms_side import LINK_BASE
from tests.support import T0, FakeClock, all_rows, auth, config_data, stage_event

H = timedelta(hours=1)
M = timedelta(minutes=1)
SHIPPED = T0 + H  # 10:00 in Beijing, Monday
SCANNED = SHIPPED + 3 * H  # 13:00 in Beijing


@pytest.fixture
async def app(aiohttp_client: Any, database_url: str, clock: FakeClock) -> TestClient:
    config = parse_config(tracking_config(database_url))
    client: TestClient = await aiohttp_client(create_app(config, clock=clock, watch_timer=False))
    return client


async def tick(client: TestClient, now: datetime) -> stalls.StallResult:
    return await stalls.run(client.app[SESSIONS], client.app[RULES].current(), now)


async def a_scanned_parcel(
    client: TestClient, order_no: str = "SH1", carrier: str = "中通快递"
) -> int:
    """A parcel shipped and followed, last scanned at SCANNED (through the events API)."""
    parcel_id = await followed_parcel(client, order_no, SHIPPED, carrier)
    await scan_event(client, order_no, SCANNED, "杭州转运中心", "快件已到达【杭州转运中心】")
    return parcel_id


async def test_a_day_without_scans_opens_one_ticket_and_queues_one_text(app: TestClient) -> None:
    parcel_id = await a_scanned_parcel(app)

    assert await tick(app, SCANNED + 24 * H - M) == stalls.StallResult()
    assert await tick(app, SCANNED + 24 * H) == stalls.StallResult(1, 1, 1)

    [ticket] = await all_rows(app.app[SESSIONS], Ticket)
    assert (ticket.kind, ticket.status, ticket.group_key) == ("stall", "open", "logistics")
    assert ticket.episode == f"parcel:{parcel_id}@2026-03-02 05:00:00.000000"
    assert ticket.summary == (
        "中通 YTSH1: 包裹在【杭州转运中心】已超过24小时没有更新 (最后一次扫描 3月2日 13:00)"
    )
    assert ticket.route_reason.startswith("命中规则「物流停滞」")
    [alert] = [m for m in await all_rows(app.app[SESSIONS], OutboxMessage) if m.ticket_id]
    assert (alert.kind, alert.target_kind, alert.target) == ("alert", "group", "logistics")
    [text] = await all_rows(app.app[SESSIONS], SmsMessage)
    assert (text.purpose, text.phone, text.status) == ("stall", "13812345678", "pending")
    assert text.dedup_key == f"stall:{ticket.episode}"
    assert text.params["place"] == "杭州转运中心" and text.params["silence"] == "24小时"
    assert text.params["link"].startswith(LINK_BASE)
    [parcel] = await all_rows(app.app[SESSIONS], Parcel)
    assert parcel.stall_check_at is None  # until the next scan

    assert await tick(app, SCANNED + 48 * H) == stalls.StallResult()  # nothing new
    assert len(await all_rows(app.app[SESSIONS], Ticket)) == 1
    assert len(await all_rows(app.app[SESSIONS], SmsMessage)) == 1


async def test_a_new_scan_then_silence_again_is_a_second_episode(app: TestClient) -> None:
    parcel_id = await a_scanned_parcel(app)
    await tick(app, SCANNED + 25 * H)
    moved = SCANNED + 30 * H
    await scan_event(app, "SH1", moved, "上海分拨中心", "快件已到达【上海分拨中心】")
    [first] = await all_rows(app.app[SESSIONS], Ticket)
    assert (first.status, first.resolution) == ("resolved", "auto")  # the intake closed it

    assert await tick(app, moved + 23 * H) == stalls.StallResult()
    assert await tick(app, moved + 24 * H + 5 * M) == stalls.StallResult(1, 1, 1)

    first, second = await all_rows(app.app[SESSIONS], Ticket)
    assert second.episode == f"parcel:{parcel_id}@2026-03-03 11:00:00.000000"
    assert second.summary is not None and "【上海分拨中心】已超过24小时" in second.summary
    assert first.episode != second.episode
    keys = [t.dedup_key for t in await all_rows(app.app[SESSIONS], SmsMessage)]
    assert keys == [f"stall:{first.episode}", f"stall:{second.episode}"]


async def test_each_carrier_its_own_limit(app: TestClient) -> None:
    sf = await a_scanned_parcel(app, "SH1", carrier="顺丰速运")
    await a_scanned_parcel(app, "SH2", carrier="中通快递")

    assert await tick(app, SCANNED + 12 * H) == stalls.StallResult(1, 1, 1)
    [ticket] = await all_rows(app.app[SESSIONS], Ticket)
    assert ticket.episode.startswith(f"parcel:{sf}@")
    assert ticket.summary is not None and ticket.summary.startswith("顺丰 YTSH1: ")
    assert ticket.summary.endswith("已超过12小时没有更新 (最后一次扫描 3月2日 13:00)")
    assert await tick(app, SCANNED + 24 * H) == stalls.StallResult(1, 1, 1)


async def test_a_parcel_never_scanned_stalls_from_its_shipping(app: TestClient) -> None:
    order_id = await shipped_order(app, "SH1", SHIPPED)
    await add_parcel(app, order_id, "YT1", SHIPPED, stall_check_at=SHIPPED + 24 * H)

    assert await tick(app, SHIPPED + 30 * H) == stalls.StallResult(1, 1, 1)

    [ticket] = await all_rows(app.app[SESSIONS], Ticket)
    assert ticket.summary == "中通 YT1: 发货后已超过24小时没有揽收扫描 (发货 3月2日 10:00)"
    [text] = await all_rows(app.app[SESSIONS], SmsMessage)
    assert (text.params["place"], text.params["silence"]) == ("待揽收", "24小时")


async def test_arrived_returned_or_moved_on_parcels_are_not_stalls(app: TestClient) -> None:
    for order_no in ("SH1", "SH2", "SH3"):
        await a_scanned_parcel(app, order_no)
    await scan_event(app, "SH1", SCANNED + H, "上海浦东", "已签收", "delivered")
    await scan_event(app, "SH2", SCANNED + H, "上海浦东", "客户拒收", "rejected")
    await move_order(app, "SH3", "delivered", SCANNED + H)  # the channel says it arrived

    # SH1's check ended with its arrival; SH2 (refused) and SH3 (order delivered) are let go
    assert await tick(app, SCANNED + 25 * H) == stalls.StallResult(2, 0, 0)
    kinds = [t.kind for t in await all_rows(app.app[SESSIONS], Ticket)]
    assert kinds == ["return"]  # the intake's, for the refusal; no stall ticket
    assert [p.stall_check_at for p in await all_rows(app.app[SESSIONS], Parcel)] == [None] * 3


async def move_order(client: TestClient, order_no: str, stage: str, at: datetime) -> None:
    response = await client.post(
        "/api/v1/events", json=stage_event(order_no, stage, at), headers=auth("wms")
    )
    assert (await response.json())["updated"] == 1


async def test_a_longer_limit_since_a_reload_waits_for_it(
    app: TestClient, database_url: str
) -> None:
    parcel_id = await a_scanned_parcel(app)  # its check set for 24 h, the limit then
    longer = parse_config(tracking_config(database_url, stall_after="48h"))
    app.app[RULES].swap(Policy.from_config(longer))

    assert await tick(app, SCANNED + 25 * H) == stalls.StallResult(1, 0, 0)
    async with app.app[SESSIONS]() as session:
        parcel = await session.get(Parcel, parcel_id)
    assert parcel is not None and parcel.stall_check_at == SCANNED + 48 * H
    assert await tick(app, SCANNED + 48 * H) == stalls.StallResult(1, 1, 1)


async def test_no_text_unless_the_config_says_so(
    aiohttp_client: Any, database_url: str, clock: FakeClock
) -> None:
    config = parse_config(tracking_config(database_url, notify_customer=["rejected"]))
    client: TestClient = await aiohttp_client(create_app(config, clock=clock, watch_timer=False))
    await a_scanned_parcel(client)

    assert await tick(client, SCANNED + 24 * H) == stalls.StallResult(1, 1, 0)
    assert await all_rows(client.app[SESSIONS], SmsMessage) == []


async def test_a_stall_at_night_texts_the_customer_in_the_morning(app: TestClient) -> None:
    await a_scanned_parcel(app)
    night = SCANNED + 34 * H  # 23:00 in Beijing

    assert await tick(app, night) == stalls.StallResult(1, 1, 1)

    [text] = await all_rows(app.app[SESSIONS], SmsMessage)
    assert text.not_before == T0 + 2 * 24 * H - H  # 08:00 the next day in Beijing


async def test_while_routing_is_paused_stalls_go_to_triage(app: TestClient) -> None:
    await a_scanned_parcel(app)
    paused = await say(app, "ops-liu", "暂停分单 地址库升级", now=SCANNED, chat="direct")
    assert "已暂停自动分单" in paused

    assert await tick(app, SCANNED + 24 * H) == stalls.StallResult(1, 1, 1)

    [ticket] = await all_rows(app.app[SESSIONS], Ticket)
    assert ticket.group_key == "general"  # the default group triages without a triage_group
    assert "地址库升级" in ticket.route_reason


async def test_without_tracking_after_a_reload_the_checks_wait(
    app: TestClient, database_url: str
) -> None:
    await a_scanned_parcel(app)
    without = Policy.from_config(parse_config(config_data(database_url)))

    assert await stalls.run(app.app[SESSIONS], without, SCANNED + 25 * H) == stalls.StallResult()

    [parcel] = await all_rows(app.app[SESSIONS], Parcel)
    assert parcel.stall_check_at == SCANNED + 24 * H
    assert await tick(app, SCANNED + 25 * H) == stalls.StallResult(1, 1, 1)  # [tracking] back
