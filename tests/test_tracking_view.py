"""A shipped order in plain words: where its parcel is and when it is expected (never a past
date), its scans on the timeline for everyone, the texts to its customer for staff only; the
same words in the order view, in 状态 and 查询, and through WeCom."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import update

from bot.app import create_app
from bot.keys import CLOCK, RULES, SESSIONS
from jobs import stalls
from services.config import parse_config
from services.order_view import OrderView, order_view
from storage.models import SmsMessage
from tests.chat import say
from tests.parcel_side import (
    add_parcel,
    scan,
    scan_event,
    shipped_order,
    tracking_config,
)
from tests.support import T0, FakeClock
from tests.wecom_side import type_in_wecom

H = timedelta(hours=1)
SHIPPED = T0 + H  # Monday 3月2日 10:00 in Beijing; the default transit (72 h) → 3月5日
PICKED_UP = SHIPPED + 2 * H
ARRIVED = SHIPPED + 5 * H  # 15:00 in Beijing


@pytest.fixture
async def app(aiohttp_client: Any, database_url: str, clock: FakeClock) -> TestClient:
    config = parse_config(tracking_config(database_url))
    client: TestClient = await aiohttp_client(create_app(config, clock=clock, watch_timer=False))
    return client


async def a_parcel_in_transit(client: TestClient, order_no: str = "SH1") -> int:
    order_id = await shipped_order(client, order_no, SHIPPED)
    parcel_id = await add_parcel(client, order_id, f"YT{order_no}", SHIPPED)
    await scan(
        client, parcel_id, PICKED_UP, "杭州", "【杭州】快递员 13912345678 已揽收", "picked_up"
    )
    await scan(client, parcel_id, ARRIVED, "杭州转运中心", "快件已到达【杭州转运中心】")
    return parcel_id


async def view(client: TestClient, now: datetime, order_no: str = "SH1") -> OrderView:
    async with client.app[SESSIONS]() as session:
        found = await order_view(session, client.app[RULES].current(), "shop", order_no, now)
    assert found is not None
    return found


async def test_the_view_says_where_the_parcel_is_and_when_it_arrives(app: TestClient) -> None:
    await a_parcel_in_transit(app)

    seen = await view(app, ARRIVED + H)

    assert seen.stage_in_words == "运输中, 预计3月5日送达"
    assert (seen.eta, seen.logistics) == (SHIPPED + 72 * H, "in_transit")
    [parcel] = seen.parcels
    assert (parcel.carrier_name, parcel.tracking_no, parcel.in_words) == (
        "中通",
        "YTSH1",
        "运输中, 预计3月5日送达",
    )
    assert (parcel.last_scan_at, parcel.last_scan_place) == (ARRIVED, "杭州转运中心")
    scans = [
        (e.at, e.actor, e.place, e.detail, e.internal) for e in seen.timeline if e.kind == "scan"
    ]
    assert scans == [
        (PICKED_UP, "中通", "杭州", "【杭州】快递员 139****5678 已揽收", False),
        (ARRIVED, "中通", "杭州转运中心", "快件已到达【杭州转运中心】", False),
    ]
    late = await view(app, SHIPPED + 4 * 24 * H)  # 3月6日: a day past 3月5日
    assert late.stage_in_words == "运输中, 比预计晚1天"


async def test_texts_to_the_customer_are_on_the_timeline_for_staff(app: TestClient) -> None:
    await a_parcel_in_transit(app)
    stalled = ARRIVED + 24 * H  # 15:00 in Beijing: the text may go at once
    await stalls.run(app.app[SESSIONS], app.app[RULES].current(), stalled)

    queued = [e for e in (await view(app, stalled)).timeline if e.kind == "text"]
    assert [(e.at, e.detail, e.internal) for e in queued] == [
        (stalled, "物流停滞短信 138****5678: 已排队", True)
    ]

    async with app.app[SESSIONS].begin() as session:  # as the sender and a receipt leave it
        await session.execute(
            update(SmsMessage).values(
                status="undelivered",
                sent_at=stalled + H,
                receipt_at=stalled + 2 * H,
                error="用户停机 (DELIVRD 以外: MK:0001)",
            )
        )
    texts = [
        (e.at, e.detail) for e in (await view(app, stalled + 3 * H)).timeline if e.kind == "text"
    ]
    assert texts == [
        (stalled, "物流停滞短信 138****5678: 已排队"),
        (stalled + H, "物流停滞短信 138****5678: 已提交短信平台"),
        (stalled + 2 * H, "物流停滞短信 138****5678: 未送达 (用户停机 (DELIVRD 以外: MK:0001))"),
    ]


async def test_a_text_held_through_the_night_says_when_it_goes(app: TestClient) -> None:
    await a_parcel_in_transit(app)
    night = ARRIVED + 31 * H  # 22:00 in Beijing
    await stalls.run(app.app[SESSIONS], app.app[RULES].current(), night)

    [text] = [e for e in (await view(app, night)).timeline if e.kind == "text"]
    assert text.detail == "物流停滞短信 138****5678: 已排队 (03-04 08:00 后发送)"


async def test_status_and_query_show_the_words_the_eta_and_the_latest_scans(
    app: TestClient,
) -> None:
    await a_parcel_in_transit(app)
    now = ARRIVED + H

    status = await say(app, "zhang", "状态 SH1", now=now)

    assert "物流: 运输中, 预计3月5日送达" in status
    assert "包裹: 中通 YTSH1, 最新扫描 03-02 15:00 杭州转运中心" in status
    assert "03-02 12:00 中通: 【杭州】快递员 139****5678 已揽收" in status
    assert "03-02 15:00 中通: 快件已到达【杭州转运中心】" in status
    assert "环节:" not in status and "处理中" not in status
    assert "13912345678" not in status and "13812345678" not in status

    query = await say(app, "kefu", "查询 13812345678", now=now, chat="direct")
    assert "   运输中, 预计3月5日送达" in query
    assert "   包裹: 中通 YTSH1, 最新扫描 03-02 15:00 杭州转运中心" in query


async def test_status_keeps_only_the_latest_scans(app: TestClient) -> None:
    await a_parcel_in_transit(app)
    for n in range(6):
        await scan_event(app, "SH1", ARRIVED + (n + 1) * H, f"站点{n}", f"快件经过站点{n}")

    status = await say(app, "zhang", "状态 SH1", now=ARRIVED + 8 * H)

    assert "已揽收" not in status and "站点0" not in status  # older than the latest 5
    assert all(f"快件经过站点{n}" in status for n in range(1, 6))


async def test_out_for_delivery_and_signed_for_in_plain_words(app: TestClient) -> None:
    parcel_id = await a_parcel_in_transit(app)
    await scan(
        app, parcel_id, ARRIVED + 20 * H, "上海浦东", "派送中, 快递员 小王", "out_for_delivery"
    )
    assert (await view(app, ARRIVED + 21 * H)).stage_in_words == "派送中"
    await scan(app, parcel_id, ARRIVED + 22 * H, "上海浦东", "已签收, 签收人: 本人", "delivered")
    assert (await view(app, ARRIVED + 23 * H)).stage_in_words == "已签收"


async def test_status_through_wecom(bot: TestClient, sandbox: TestServer) -> None:
    now = datetime.now(UTC)
    shipped = now - 5 * H
    order_id = await shipped_order(bot, "SH9", shipped)
    parcel_id = await add_parcel(bot, order_id, "YT9", shipped)
    await scan(bot, parcel_id, now - H, "杭州转运中心", "快件已到达【杭州转运中心】")
    bot.app[CLOCK].current = datetime.now(UTC)  # callbacks are signed with the real time

    answer = await type_in_wecom(bot, sandbox, "group", "zhang", "状态 SH9")

    assert "物流: 运输中, 预计" in answer and "送达" in answer
    assert "中通: 快件已到达【杭州转运中心】" in answer
