"""The overdue watch end to end: orders in through the HTTP API, ticks at chosen times,
tickets and outbox rows out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import update

from bot.app import create_app
from bot.keys import RULES, SESSIONS
from jobs import watch
from services.config import parse_config
from services.notices import render_messages
from storage.models import Order, OutboxMessage, Ticket
from storage.outbox import messages_after
from tests.support import (
    BEIJING,
    T0,
    FakeClock,
    all_rows,
    auth,
    config_data,
    shop_order,
    stage_event,
)

H = timedelta(hours=1)
M = timedelta(minutes=1)


async def post_orders(client: TestClient, *orders: dict[str, object]) -> None:
    response = await client.post(
        "/api/v1/orders/shop", json={"orders": list(orders)}, headers=auth("all")
    )
    assert response.status == 200, await response.text()


async def post_event(client: TestClient, event: dict[str, str]) -> None:
    response = await client.post("/api/v1/events", json=event, headers=auth("wms"))
    assert response.status == 200, await response.text()


async def tick(client: TestClient, at: datetime) -> watch.WatchResult:
    return await watch.run(client.app[SESSIONS], client.app[RULES].current(), at)


async def tickets(client: TestClient) -> list[Ticket]:
    return await all_rows(client.app[SESSIONS], Ticket)


async def outbox(client: TestClient) -> list[OutboxMessage]:
    return await all_rows(client.app[SESSIONS], OutboxMessage)


async def texts(client: TestClient, delivered_at: datetime) -> list[str]:
    """The outbox as people would read it if it were delivered at ``delivered_at``."""
    async with client.app[SESSIONS]() as session:
        messages = await messages_after(session, 0)
        rendered = await render_messages(
            session, client.app[RULES].current(), messages, delivered_at
        )
    return [rendered[m.id] for m in messages]


async def test_missed_deadline_opens_one_routed_ticket_and_one_alert(client: TestClient) -> None:
    await post_orders(client, shop_order("SH001", province="上海市"))

    assert (await tick(client, T0 + 2 * H - M)).opened == 0
    assert await tickets(client) == []

    assert (await tick(client, T0 + 2 * H)).opened == 1
    await tick(client, T0 + 2 * H + M)
    [ticket] = await tickets(client)
    assert (ticket.status, ticket.group_key, ticket.route_rule) == ("open", "east", "华东")
    assert "省份=上海市" in ticket.route_reason
    assert ticket.deadline_at == T0 + 2 * H
    [alert] = await outbox(client)
    assert (alert.kind, alert.target_kind, alert.target) == ("alert", "group", "east")
    [text] = await texts(client, T0 + 2 * H + 5 * M)
    assert "SH001" in text and f"认领 {ticket.id}" in text and "已超时 5分" in text
    assert "¥129.00" in text and "1小时55分后升级至主管" in text


async def test_one_tick_routes_and_schedules_each_order_by_its_own_facts(
    client: TestClient,
) -> None:
    """Orders paid in the same second share a schedule in a batch, and orders alike but for
    the amount or the region still go each to its own group."""
    await post_orders(
        client,
        shop_order("SH010", province="上海市"),
        shop_order("SH011", province="上海市", total_fen=600000),
        shop_order("SH012", province="广东省"),
        shop_order("SH013", province="上海市", paid_at=T0 + M),
    )
    assert (await tick(client, T0 + 2 * H + M)).opened == 4
    routed = [(t.group_key, t.route_rule, t.deadline_at) for t in await tickets(client)]
    assert sorted(routed) == [
        ("east", "华东", T0 + 2 * H),
        ("east", "华东", T0 + 2 * H + M),
        ("general", "默认", T0 + 2 * H),
        ("vip", "大额", T0 + 2 * H),
    ]


async def test_a_fresh_alert_says_it_is_just_overdue_not_0_seconds(client: TestClient) -> None:
    await post_orders(client, shop_order("SH001", province="上海市"))
    await tick(client, T0 + 2 * H)
    [fresh] = await texts(client, T0 + 2 * H + timedelta(seconds=20))
    assert "状态: 已付款待拣货, 刚刚超时 (截止 03-02 11:00)" in fresh and "0秒" not in fresh
    [later] = await texts(client, T0 + 2 * H + M)
    assert "状态: 已付款待拣货, 已超时 1分 (截止 03-02 11:00)" in later


async def test_escalates_to_the_supervisor_at_4h_exactly_once(client: TestClient) -> None:
    await post_orders(client, shop_order("SH002", province="上海市"))
    for at in (T0 + 2 * H, T0 + 3 * H, T0 + 4 * H - M, T0 + 4 * H, T0 + 4 * H + M, T0 + 9 * H):
        await tick(client, at)
    messages = await outbox(client)
    assert [(m.kind, m.target_kind, m.target) for m in messages] == [
        ("alert", "group", "east"),
        ("escalation", "user", "boss-east"),
    ]
    # Escalations are counted as people count them: the first one, not "第2级".
    escalation = (await texts(client, T0 + 4 * H))[1]
    assert escalation.startswith("🚨 超时第1次升级 工单 #1") and "第2级" not in escalation
    [ticket] = await tickets(client)
    assert ticket.level == 2


async def test_a_late_watch_fires_every_due_level_in_order(client: TestClient) -> None:
    await post_orders(client, shop_order("SH003", province="上海市"))
    result = await tick(client, T0 + 5 * H)
    assert (result.opened, result.escalated) == (1, 1)
    assert [m.kind for m in await outbox(client)] == ["alert", "escalation"]


async def test_moving_on_resolves_the_ticket_and_stops_escalation(client: TestClient) -> None:
    await post_orders(client, shop_order("SH004", province="上海市"))
    await tick(client, T0 + 2 * H)
    await post_event(client, stage_event("SH004", "picking", T0 + 2 * H + 30 * M))

    [ticket] = await tickets(client)
    assert (ticket.status, ticket.resolution) == ("resolved", "auto")
    await tick(client, T0 + 4 * H)
    messages = await outbox(client)
    assert [(m.kind, m.target) for m in messages] == [("alert", "east"), ("resolution", "east")]
    notice = (await texts(client, T0 + 4 * H))[1]
    assert "已自动关闭" in notice and "仓库拣货中" in notice and "超时 30分" in notice


async def test_the_next_stage_has_its_own_deadline_and_ticket(client: TestClient) -> None:
    await post_orders(client, shop_order("SH005", province="上海市"))
    await post_event(client, stage_event("SH005", "picking", T0 + H))
    await tick(client, T0 + 2 * H)
    assert await tickets(client) == []
    await tick(client, T0 + 4 * H)  # picking limit is 3h
    [ticket] = await tickets(client)
    assert (ticket.stage, ticket.deadline_at) == ("picking", T0 + 4 * H)


async def test_an_order_that_moves_on_in_time_gets_no_ticket(client: TestClient) -> None:
    await post_orders(client, shop_order("SH006"))
    await post_orders(
        client, shop_order("SH006", status="SHIPPED") | {"shipped_at": (T0 + H).isoformat()}
    )
    await tick(client, T0 + 10 * H)
    assert await tickets(client) == []
    assert await outbox(client) == []


async def test_business_hours_rule_skips_the_national_day_holiday(client: TestClient) -> None:
    # 8 business hours from Tue 2025-09-30 17:00 Beijing: one hour that day, nothing during
    # 10-01..10-08, seven more on Thu 10-09 → 16:00 Beijing = 08:00 UTC.
    paid = datetime(2025, 9, 30, 9, 0, tzinfo=UTC)
    await post_orders(client, shop_order("SH007", paid_at=paid, category="定制家具"))
    deadline = datetime(2025, 10, 9, 8, 0, tzinfo=UTC)
    await tick(client, deadline - M)
    assert await tickets(client) == []
    await tick(client, deadline)
    [ticket] = await tickets(client)
    assert (ticket.sla_rule, ticket.deadline_at) == ("定制待拣货", deadline)


async def test_a_claim_does_not_stop_escalation_by_default(client: TestClient) -> None:
    await post_orders(client, shop_order("SH008", province="上海市"))
    await tick(client, T0 + 2 * H)
    async with client.app[SESSIONS].begin() as session:
        await session.execute(update(Ticket).values(owner="zhang", claimed_at=T0 + 2 * H))
    await tick(client, T0 + 4 * H)
    assert [m.kind for m in await outbox(client)] == ["alert", "escalation"]


async def test_a_claim_stops_escalation_when_the_rule_says_so(
    aiohttp_client: Any, database_url: str, clock: FakeClock
) -> None:
    data = config_data(database_url)
    data["sla"][0]["stop_escalation_on_claim"] = True
    client = await aiohttp_client(create_app(parse_config(data), clock=clock, watch_timer=False))
    await post_orders(client, shop_order("SH009", province="上海市"))
    await tick(client, T0 + 2 * H)
    async with client.app[SESSIONS].begin() as session:
        await session.execute(update(Ticket).values(owner="zhang", claimed_at=T0 + 2 * H))
    await tick(client, T0 + 5 * H)
    assert [m.kind for m in await outbox(client)] == ["alert"]


async def test_second_scale_deadlines_on_the_running_timer(
    aiohttp_client: Any, database_url: str
) -> None:
    """The scheduled watch in a live app, on the wall clock: 2 s to alert, 4 s to escalate."""
    data = config_data(database_url)
    data["watch"] = {
        "scan_interval": "1s",
        "escalation": [
            {"after": "deadline", "notify": "group"},
            {"after": "4s", "notify": "supervisor"},
        ],
    }
    data["sla"][0]["limit"] = "2s"
    client = await aiohttp_client(create_app(parse_config(data)))
    paid = datetime.now(UTC)
    await post_orders(client, shop_order("SH010", province="上海市", paid_at=paid))

    async def wait_for(count: int) -> list[OutboxMessage]:
        for _ in range(150):
            if len(messages := await outbox(client)) >= count:
                return messages
            await asyncio.sleep(0.1)
        raise AssertionError(f"fewer than {count} messages after 15 s: {messages}")

    alert, escalation = await wait_for(2)
    assert (alert.kind, escalation.kind, escalation.target) == ("alert", "escalation", "boss-east")
    assert alert.created_at >= paid + timedelta(seconds=2)
    assert escalation.created_at >= paid + timedelta(seconds=4)
    assert escalation.created_at - paid < timedelta(seconds=7)  # within a tick or two


# --- counting to the platform's ship-by ----------------------------------------------------------

SHIP_BY_RULE = {
    "name": "平台发货时限",
    "stage": "paid",
    "deadline": "ship_by",
    "before": "2h",
    "limit": "2h",
}


@pytest.fixture
async def ship_by_client(aiohttp_client: Any, database_url: str, clock: FakeClock) -> TestClient:
    """Paid orders alert 2 h before the platform's ship-by (2 h after payment without one)."""
    data = config_data(database_url)
    data["sla"].insert(0, SHIP_BY_RULE)
    client: TestClient = await aiohttp_client(
        create_app(parse_config(data), clock=clock, watch_timer=False)
    )
    return client


def shipping_by(order_no: str, ship_by: datetime) -> dict[str, object]:
    return shop_order(order_no) | {"ship_by_at": ship_by.astimezone(BEIJING).isoformat()}


async def test_a_ship_by_rule_alerts_before_the_platforms_ship_by(
    ship_by_client: TestClient,
) -> None:
    client = ship_by_client
    await post_orders(client, shipping_by("SH001", T0 + 24 * H))
    assert (await tick(client, T0 + 22 * H - M)).opened == 0  # the 2 h limit is not the rule

    assert (await tick(client, T0 + 22 * H)).opened == 1
    [ticket] = await tickets(client)
    assert (ticket.sla_rule, ticket.deadline_at) == ("平台发货时限", T0 + 22 * H)
    [alert] = await texts(client, T0 + 22 * H)
    assert "截止 03-03 07:00" in alert and "平台最晚发货: 03-03 09:00" in alert
    # Escalation levels count from that deadline (the payment was a day earlier).
    assert "4小时后升级至主管" in alert
    assert (await tick(client, T0 + 26 * H - M)).escalated == 0
    assert (await tick(client, T0 + 26 * H)).escalated == 1


async def test_a_ship_by_rule_counts_its_limit_for_an_order_without_one(
    ship_by_client: TestClient,
) -> None:
    await post_orders(ship_by_client, shop_order("SH001"))
    assert (await tick(ship_by_client, T0 + 2 * H)).opened == 1
    [ticket] = await tickets(ship_by_client)
    assert (ticket.sla_rule, ticket.deadline_at) == ("平台发货时限", T0 + 2 * H)


async def test_a_ship_by_the_platform_moves_moves_the_deadline(
    ship_by_client: TestClient,
) -> None:
    client = ship_by_client
    await post_orders(client, shipping_by("SH001", T0 + 10 * H))
    await post_orders(client, shipping_by("SH001", T0 + 20 * H))  # the buyer agreed to wait
    [order] = await all_rows(client.app[SESSIONS], Order)
    assert (order.deadline_at, order.next_check_at) == (T0 + 18 * H, T0 + 18 * H)
    assert (await tick(client, T0 + 8 * H)).opened == 0
    assert (await tick(client, T0 + 18 * H)).opened == 1
    [ticket] = await tickets(client)
    assert ticket.deadline_at == T0 + 18 * H
