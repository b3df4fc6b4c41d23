"""The order view (services.order_view): an order with its stage in words, deadline, masked
phone, notes, ticket and timeline, as 状态 and 查询 and the customer page read it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from bot.keys import CLOCK, RULES, SESSIONS
from services.order_view import OrderView, TimelineEntry, customer_orders, order_view
from tests.chat import OPENED, H, M, open_ticket, say
from tests.support import T0, auth, shop_order, stage_event


async def view(client: TestClient, order_no: str, now: datetime) -> OrderView:
    async with client.app[SESSIONS]() as session:
        found = await order_view(session, client.app[RULES].current(), "shop", order_no, now)
    assert found is not None
    return found


async def move(client: TestClient, order_no: str, stage: str, at: datetime) -> None:
    """The warehouse reports the stage at ``at``, and the bot hears it then."""
    client.app[CLOCK].current = at
    response = await client.post(
        "/api/v1/events", json=stage_event(order_no, stage, at), headers=auth("wms")
    )
    assert (await response.json())["updated"] == 1


def entries(timeline: tuple[TimelineEntry, ...]) -> list[tuple[datetime, str, Any, Any, bool]]:
    return [(e.at, e.kind, e.actor, e.detail, e.internal) for e in timeline]


async def test_an_order_without_a_ticket(client: TestClient) -> None:
    await open_ticket(client, shop_order("SH002", paid_at=T0 + H, total_fen=5900))

    seen = await view(client, "SH002", OPENED + 5 * M)

    assert (seen.order_no, seen.channel, seen.channel_label) == ("SH002", "shop", "自营商城")
    assert (seen.amount_fen, seen.paid_at) == (5900, T0 + H)
    assert (seen.stage, seen.stage_label) == ("paid", "已付款待拣货")
    assert seen.stage_in_words == "已付款待拣货(预计55分内开始拣货)"
    assert (seen.deadline_at, seen.eta) == (T0 + 3 * H, None)
    assert seen.phone == "138****5678"
    assert seen.ticket is None
    assert entries(seen.timeline) == [(T0 + H, "stage", "shop", "paid", False)]  # its first
    assert await view_of_unknown(client) is None


async def view_of_unknown(client: TestClient) -> OrderView | None:
    async with client.app[SESSIONS]() as session:
        policy = client.app[RULES].current()
        return await order_view(session, policy, "jd", "SH002", OPENED)  # not in that channel


async def test_an_open_ticket_claimed_and_noted(client: TestClient) -> None:
    await open_ticket(client)
    await say(client, "zhang", "认领 1", now=OPENED + 5 * M)
    await say(client, "zhang", "备注 1 客户说打 13912345678", now=OPENED + 6 * M)

    seen = await view(client, "SH001", OPENED + 10 * M)

    ticket = seen.ticket
    assert ticket is not None
    assert (ticket.id, ticket.status, ticket.open, ticket.stage) == (1, "open", True, "paid")
    assert (ticket.kind, ticket.kind_label) == ("overdue", "超时")
    assert (ticket.group_key, ticket.group_name, ticket.owner) == ("east", "华东组", "zhang")
    assert (ticket.opened_at, ticket.snoozed_until) == (OPENED, None)
    assert ticket.route_reason == "命中规则「华东」: 省份=上海市"
    assert seen.stage_in_words == "已付款待拣货(已超出承诺时间10分)"
    tickets_part = [e for e in entries(seen.timeline) if e[1] != "stage"]
    assert tickets_part == [
        (OPENED, "opened", None, "命中规则「华东」: 省份=上海市", True),
        (OPENED + 5 * M, "claimed", "zhang", None, True),
        (OPENED + 6 * M, "noted", "zhang", "客户说打 139****5678", True),
    ]


async def test_a_closed_ticket_and_the_timeline_in_time_order(client: TestClient) -> None:
    """Stage entries and ticket events interleave by time; a stage entered at the moment the
    ticket closed comes first, since it is what closed it."""
    await open_ticket(client)
    await say(client, "zhang", "认领 1", now=OPENED + 5 * M)
    await move(client, "SH001", "picking", OPENED + 10 * M)  # closes the ticket
    await move(client, "SH001", "shipped", OPENED + 30 * M)

    seen = await view(client, "SH001", OPENED + H)

    assert seen.ticket is not None and seen.ticket.status == "resolved" and not seen.ticket.open
    assert seen.stage == "shipped"
    timeline = entries(seen.timeline)
    assert [(at, kind, detail) for at, kind, _, detail, _ in timeline] == [
        (T0, "stage", "paid"),
        (OPENED, "opened", "命中规则「华东」: 省份=上海市"),
        (OPENED + 5 * M, "claimed", None),
        (OPENED + 10 * M, "stage", "picking"),
        (OPENED + 10 * M, "resolved", "订单进入「仓库拣货中」"),
        (OPENED + 30 * M, "stage", "shipped"),
    ]
    assert [internal for *_, internal in timeline] == [False, True, True, False, True, False]
    assert [actor for _, _, actor, _, _ in timeline] == ["shop", None, "zhang", "wms", None, "wms"]


async def test_the_phone_is_masked_or_shown_as_the_platform_masked_it(
    client: TestClient,
) -> None:
    full = shop_order("SH001") | {
        "buyer_message": "周末送货, 到了打 138 1234 5678",
        "seller_memo": "加急, 客户电话13912345678",
    }
    masked = shop_order("SH002")
    masked["receiver"]["mobile"] = "151********"
    await open_ticket(client, full, masked)
    await say(client, "zhang", "备注 1 改打 13812345678", now=OPENED + 5 * M)

    seen = await view(client, "SH001", OPENED + 10 * M)

    assert seen.phone == "138****5678"
    assert seen.notes.buyer_message == "周末送货, 到了打 138****5678"
    assert seen.notes.seller_memo == "加急, 客户电话139****5678"
    assert seen.timeline[-1].detail == "改打 138****5678"
    text = repr(seen)
    assert "12345678" not in text and "1234 5678" not in text
    assert (await view(client, "SH002", OPENED)).phone == "151********"


async def test_a_customers_orders_by_phone(client: TestClient) -> None:
    def customer(order_no: str, mobile: str, paid_at: datetime) -> dict[str, Any]:
        order = shop_order(order_no, paid_at=paid_at)
        order["receiver"]["mobile"] = mobile
        return order

    await open_ticket(
        client,
        customer("SH001", "13812345678", T0),
        customer("SH002", "13812345678", T0 + H),
        customer("SH003", "13900001111", T0),
    )
    client.app[CLOCK].current = T0 + 2 * H  # received later
    response = await client.post(
        "/api/v1/orders/shop",
        json=[customer("SH004", "13812345678", T0 + 2 * H)],
        headers=auth("all"),
    )
    assert response.status == 200
    await say(client, "zhang", "认领 1")

    async def orders(since: datetime, limit: int = 10) -> list[tuple[str, int | None]]:
        async with client.app[SESSIONS]() as session:
            policy = client.app[RULES].current()
            found = await customer_orders(
                session, policy, "13812345678", since, limit, OPENED + 30 * M
            )
        assert all(o.phone == "138****5678" for o in found)
        return [(o.order_no, o.ticket.id if o.ticket else None) for o in found]

    assert await orders(T0 - timedelta(days=90)) == [("SH004", None), ("SH002", None), ("SH001", 1)]
    assert await orders(T0 + H) == [("SH004", None)]  # received since
    assert await orders(T0 - H, limit=2) == [("SH004", None), ("SH002", None)]
