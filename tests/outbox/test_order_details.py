"""What an order carries besides its stage, through the ingest API into the order pool and out
again where people read it: items, payments and waybills as rows of their own (replaced when a
record brings new ones), the ship time kept once known, the hold reason while on hold, and all
of it in 状态 and the single-ticket alert with phone numbers masked."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from bot.keys import SESSIONS
from storage.models import Order, OrderItem, OrderPayment, OrderWaybill
from tests.chat import OPENED, say
from tests.outbox_side import Bot, accepted
from tests.support import BEIJING, T0, all_rows, auth, shop_order, stage_event

H = timedelta(hours=1)


def local(delta: timedelta = timedelta(0)) -> str:
    """T0 + ``delta`` as the shop writes times."""
    return (T0 + delta).astimezone(BEIJING).isoformat()


def detailed(order_no: str = "SH001", **fields: Any) -> dict[str, Any]:
    """A paid shop order with two items, a payment, a ship-by and what buyer and seller wrote."""
    return (
        shop_order(order_no)
        | {
            "items": [
                {"title": "北欧实木餐桌", "quantity": 1, "sku": "T-100", "amount_fen": 9900},
                {"title": "餐椅", "quantity": 4, "sku": "C-200", "amount_fen": 3000},
            ],
            "payments": [
                {"out_trade_no": f"{order_no}-P1", "amount_fen": 12900, "paid_at": local()}
            ],
            "ship_by_at": local(24 * H),
            "buyer_message": "周末送货, 到了打 138 1234 5678",
            "seller_memo": "加急, 客户电话13912345678",
        }
        | fields
    )


async def post(client: TestClient, *orders: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/v1/orders/shop", json=list(orders), headers=auth("all"))
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def rows(client: TestClient, model: type[Any]) -> list[Any]:
    return await all_rows(client.app[SESSIONS], model)


async def the_order(client: TestClient) -> Order:
    [order] = await rows(client, Order)
    return order


async def test_items_and_payments_are_stored_as_rows_and_replaced_when_the_record_changes(
    client: TestClient,
) -> None:
    assert (await post(client, detailed()))["created"] == 1
    order = await the_order(client)
    assert (order.ship_by_at, order.seller_memo) == (T0 + 24 * H, "加急, 客户电话13912345678")
    items = await rows(client, OrderItem)
    assert [(i.order_id, i.position, i.title, i.quantity, i.sku, i.amount_fen) for i in items] == [
        (order.id, 0, "北欧实木餐桌", 1, "T-100", 9900),
        (order.id, 1, "餐椅", 4, "C-200", 3000),
    ]
    [payment] = await rows(client, OrderPayment)
    assert (payment.order_id, payment.serial, payment.phase) == (order.id, "SH001-P1", "full")
    assert (payment.amount_fen, payment.paid_at) == (12900, T0)

    # The same record again writes nothing: the rows are the very same.
    assert (await post(client, detailed()))["unchanged"] == 1
    assert [i.id for i in await rows(client, OrderItem)] == [i.id for i in items]

    # A changed record replaces the order's rows of each kind it brings.
    shipped = detailed(
        status="SHIPPED",
        shipped_at=local(3 * H),
        items=[{"title": "北欧实木餐桌", "quantity": 1, "sku": "T-100"}],
        waybills=[{"tracking_no": "7300012345", "carrier": "中通", "shipped_at": local(3 * H)}],
    )
    assert (await post(client, shipped))["updated"] == 1
    assert [(i.title, i.quantity) for i in await rows(client, OrderItem)] == [("北欧实木餐桌", 1)]
    [waybill] = await rows(client, OrderWaybill)
    assert (waybill.order_id, waybill.tracking_no, waybill.carrier) == (
        order.id,
        "7300012345",
        "中通",
    )
    assert waybill.shipped_at == T0 + 3 * H
    assert len(await rows(client, OrderPayment)) == 1

    # A record without a kind (the platform returns only the fields asked for) leaves its rows.
    bare = shop_order("SH001", status="DELIVERED")
    assert (await post(client, bare))["updated"] == 1
    assert len(await rows(client, OrderItem)) == 1
    assert len(await rows(client, OrderWaybill)) == 1


async def test_details_of_orders_new_and_changed_in_one_batch(client: TestClient) -> None:
    await post(client, detailed("SH001"))
    changed = detailed("SH001", items=[{"title": "台灯", "quantity": 2}])
    await post(client, changed, detailed("SH002"), shop_order("SH003"))
    by_order = {o.id: o.channel_order_id for o in await rows(client, Order)}
    titles = [(by_order[i.order_id], i.title) for i in await rows(client, OrderItem)]
    assert sorted(titles) == [("SH001", "台灯"), ("SH002", "北欧实木餐桌"), ("SH002", "餐椅")]
    serials = sorted(p.serial for p in await rows(client, OrderPayment))
    assert serials == ["SH001-P1", "SH002-P1"]


async def test_the_ship_time_is_kept_once_known(client: TestClient) -> None:
    # The platform says when it left; a later record without it does not forget it.
    await post(client, shop_order("SH001", status="SHIPPED") | {"shipped_at": local(3 * H)})
    await post(client, shop_order("SH001", status="COMPLETED"))
    order = await the_order(client)
    assert (order.stage, order.shipped_at) == ("completed", T0 + 3 * H)

    # Reported by the warehouse instead: it left when it entered shipped.
    await post(client, shop_order("SH002"))
    for stage, at in (("shipped", T0 + 4 * H), ("delivered", T0 + 20 * H)):
        response = await client.post(
            "/api/v1/events", json=stage_event("SH002", stage, at), headers=auth("wms")
        )
        assert (await response.json())["updated"] == 1
    shipped = {o.channel_order_id: o.shipped_at for o in await rows(client, Order)}
    assert shipped["SH002"] == T0 + 4 * H


async def test_a_hold_reason_holds_only_while_the_order_is_on_hold(client: TestClient) -> None:
    await post(client, shop_order("SH001", status="REFUNDING"))
    held = await the_order(client)
    assert held.stage == "on_hold" and held.hold_reason is not None
    assert "退款" in held.hold_reason

    # The buyer withdrew the refund request: picking may go on, and nothing says held.
    response = await client.post(
        "/api/v1/events", json=stage_event("SH001", "picking", T0 + H), headers=auth("wms")
    )
    assert (await response.json())["updated"] == 1
    moved = await the_order(client)
    assert (moved.stage, moved.hold_reason) == ("picking", None)


async def test_status_shows_items_messages_ship_by_and_waybills_with_phones_masked(
    client: TestClient,
) -> None:
    waybill = {"tracking_no": "7300012345", "carrier": "中通"}
    await post(client, detailed(waybills=[waybill], receiver={"mobile": "151********"}))
    reply = await say(client, "wang", "状态 SH001", now=OPENED)
    assert "商品: 北欧实木餐桌 ×1、餐椅 ×4" in reply
    assert "平台最晚发货: 03-03 09:00" in reply
    assert "运单: 中通 7300012345" in reply
    assert "买家留言: 周末送货, 到了打 138****5678" in reply
    assert "卖家备注: 加急, 客户电话139****5678" in reply
    assert "收货电话: 151********" in reply  # as the platform masked it
    assert "1234 5678" not in reply and "13912345678" not in reply


async def test_status_says_why_an_order_is_on_hold(client: TestClient) -> None:
    await post(client, shop_order("SH001", status="REFUNDING"))
    reply = await say(client, "wang", "状态 SH001", now=OPENED)
    assert "暂停原因: " in reply and "退款" in reply
    assert "商品" not in reply and "运单" not in reply  # what the order does not have


async def group_chat(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession, *orders: dict[str, Any]
) -> list[str]:
    """What the group chat reads once these orders are overdue and the alerts delivered."""
    await bot.post(*orders)
    await bot.tick(T0 + 2 * H)
    await bot.deliver(T0 + 2 * H + timedelta(seconds=10))
    return [str(m["content"]) for m in await accepted(sandbox, http)]


async def test_a_single_ticket_alert_shows_what_the_handler_needs(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    [alert] = await group_chat(bot, sandbox, http, detailed())
    assert alert.startswith("⏰ 订单超时 工单 #1")
    assert "商品: 北欧实木餐桌 ×1、餐椅 ×4" in alert
    assert "平台最晚发货: 03-03 09:00" in alert
    assert "买家留言: 周末送货, 到了打 138****5678" in alert
    assert "卖家备注: 加急, 客户电话139****5678" in alert
    assert "1234 5678" not in alert and "13912345678" not in alert


async def test_a_digest_lists_each_ticket_on_one_line_without_its_details(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    [digest] = await group_chat(bot, sandbox, http, detailed("SH001"), detailed("SH002"))
    assert digest.startswith("⏰ 超时工单 2 张") and "商品" not in digest
