"""Parcels and scans from a TMS through the events API (POST /api/v1/events): a "shipped" event
carrying the waybill follows it; scan events move the parcel and the order like a provider's
push; bad events are refused by index with every problem at once."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from storage.models import Parcel, Ticket
from tests.support import T0, FakeClock, auth, shop_order, stage_event
from tests.tracking_side import (
    carrier_fixture,  # noqa: F401
    make_tracked_fixture,  # noqa: F401
    order,
    parcel,
    rows,
    scans,
    tick_subscribe,
    tracked_fixture,  # noqa: F401
)

H = timedelta(hours=1)


def scan_event(
    order_no: str, state: str, text: str, at: datetime, number: str = "ZT7000000001", **more: Any
) -> dict[str, Any]:
    return {
        "type": "scan",
        "channel": "shop",
        "order_id": order_no,
        "event_id": f"tms-{order_no}-{at.timestamp():.0f}",
        "tracking_no": number,
        "carrier": "ZTO",
        "state": state,
        "occurred_at": at.isoformat(),
        "text": text,
    } | more


async def post_events(bot: TestClient, events: list[dict[str, Any]]) -> tuple[int, Any]:
    response = await bot.post("/api/v1/events", json=events, headers=auth("wms"))
    return response.status, await response.json()


async def paid(bot: TestClient, order_no: str = "SH1") -> None:
    response = await bot.post("/api/v1/orders/shop", json=shop_order(order_no), headers=auth("all"))
    assert response.status == 200


async def test_a_shipped_event_with_a_waybill_follows_it(
    tracked: TestClient, carrier: TestServer, clock: FakeClock
) -> None:
    await paid(tracked)
    clock.advance(2 * H)
    shipped = stage_event("SH1", "shipped", T0 + H) | {
        "tracking_no": "ZT7000000001",
        "carrier": "中通快递",
    }

    status, answer = await post_events(tracked, [shipped])

    assert (status, answer["updated"]) == (200, 1)
    followed = await parcel(tracked)
    assert (followed.tracking_no, followed.carrier, followed.carrier_text) == (
        "ZT7000000001",
        "ZTO",
        "中通快递",
    )
    assert (followed.shipped_at, followed.subscription) == (T0 + H, "pending")
    assert (await tick_subscribe(tracked, clock.now())).accepted == 1
    # the same event again follows nothing twice
    status, answer = await post_events(tracked, [shipped])
    assert (status, answer["unchanged"]) == (200, 1)
    assert len(await rows(tracked, Parcel)) == 1


async def test_tms_scans_move_the_parcel_and_the_order(
    tracked: TestClient, clock: FakeClock
) -> None:
    await paid(tracked)
    clock.advance(30 * H)
    events = [
        scan_event("SH1", "已揽收", "中通 杭州网点 已揽收", T0 + H, place="浙江省杭州市"),
        scan_event("SH1", "in_transit", "到达 上海转运中心", T0 + 8 * H),
        scan_event("SH1", "delivered", "已签收, 本人签收", T0 + 26 * H, place="上海市"),
    ]

    status, answer = await post_events(tracked, events)

    assert (status, answer["updated"], answer["rejected"]) == (200, 3, [])
    kept = await scans(tracked)
    assert [(s.state, s.source, s.code) for s in kept] == [
        ("picked_up", "wms", None),
        ("in_transit", "wms", None),
        ("delivered", "wms", None),
    ]
    followed = await parcel(tracked)
    assert (followed.state, followed.delivered_at, followed.origin_province) == (
        "delivered",
        T0 + 26 * H,
        "浙江省",
    )
    the_order = await order(tracked, "SH1")
    assert (the_order.stage, the_order.stage_entered_at) == ("delivered", T0 + 26 * H)
    assert the_order.shipped_at == T0 + H  # 揽收 shipped it before the TMS said so
    # re-sent: unchanged
    status, answer = await post_events(tracked, events)
    assert (status, answer["updated"], answer["unchanged"]) == (200, 0, 3)
    assert len(await scans(tracked)) == 3


async def test_a_tms_refusal_opens_a_return_ticket(tracked: TestClient, clock: FakeClock) -> None:
    await paid(tracked)
    clock.advance(30 * H)

    await post_events(tracked, [scan_event("SH1", "rejected", "收件人拒收", T0 + 29 * H)])

    [ticket] = await rows(tracked, Ticket)
    assert (ticket.kind, ticket.group_key) == ("return", "east")
    assert (
        ticket.summary is not None and "中通" in ticket.summary and "收件人拒收" in ticket.summary
    )


async def test_bad_scan_events_are_refused_by_index(tracked: TestClient, clock: FakeClock) -> None:
    await paid(tracked)
    clock.advance(2 * H)
    good = scan_event("SH1", "in_transit", "运输中", T0 + H)
    events = [
        good,
        {"type": "scan", "channel": "shop", "order_id": "SH1", "event_id": "x"},
        scan_event("SH1", "在路上", "运输中", T0 + H, tracking_no="Z" * 65),
        scan_event("SH1", "in_transit", "运输中", clock.now() + H),
        scan_event("NOPE", "in_transit", "运输中", T0 + H),
        {"type": "parcel", **stage_event("SH1", "picking", T0)},
        stage_event("SH1", "picking", T0) | {"tracking_no": "ZT1", "carrier": "ZTO"},
    ]

    status, answer = await post_events(tracked, events)

    assert (status, answer["updated"]) == (207, 1)
    reasons = {r["index"]: r["reason"] for r in answer["rejected"]}
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6]
    for field in ("tracking_no: 缺少字段", "state: 缺少字段", "occurred_at: 缺少字段", "text"):
        assert field in reasons[1]
    assert "state: 未知物流状态 '在路上'" in reasons[2] and "已揽收" in reasons[2]
    assert "tracking_no: 最长 64 个字符" in reasons[2]
    assert "occurred_at: 扫描时间晚于当前时间超过 10 分钟" in reasons[3]
    assert reasons[4] == "订单不存在: shop:NOPE"
    assert "type: 未知事件类型 'parcel'" in reasons[5]
    assert "tracking_no: 只有 shipped 事件可带运单号" in reasons[6]
    assert len(await scans(tracked)) == 1


async def test_scan_events_need_tracking_configured(client: TestClient) -> None:
    response = await client.post("/api/v1/orders/shop", json=shop_order("SH1"), headers=auth("all"))
    assert response.status == 200

    status, answer = await post_events(client, [scan_event("SH1", "in_transit", "运输中", T0 - H)])

    assert status == 422
    assert answer["rejected"][0]["reason"] == "未配置 [tracking]: 不接收物流扫描"
