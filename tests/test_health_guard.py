"""The health guard: a burst of unparseable addresses pauses auto-routing and tells ops once;
good addresses resume it; ops can pause and resume by hand and see every signal."""

from __future__ import annotations

from datetime import timedelta

from aiohttp.test_utils import TestClient

from bot.keys import RULES, SESSIONS
from jobs import health
from storage.models import OutboxMessage, Ticket
from tests.chat import say, tick
from tests.support import T0, FakeClock, all_rows, auth, shop_order

M = timedelta(minutes=1)


async def post_orders(client: TestClient, prefix: str, count: int, *, parseable: bool) -> None:
    """Shop orders with free-text addresses only, parseable or not."""
    detail = "上海市浦东新区张江路100号" if parseable else "火星基地第3号舱"
    orders = [
        shop_order(f"{prefix}{n:03}", province=None, detail=detail, paid_at=T0)
        for n in range(count)
    ]
    response = await client.post("/api/v1/orders/shop", json=orders, headers=auth("all"))
    assert response.status == 200, await response.text()


async def check(client: TestClient, clock: FakeClock) -> health.HealthResult:
    return await health.run(client.app[SESSIONS], client.app[RULES].current(), clock.now())


async def ops_notices(client: TestClient, about: str = "") -> list[str]:
    rows = await all_rows(client.app[SESSIONS], OutboxMessage)
    return [
        m.detail for m in rows if m.kind == "ops" and m.target == "ops-liu" and about in m.detail
    ]


async def test_unparseable_addresses_pause_routing_once_and_good_ones_resume_it(
    client: TestClient, clock: FakeClock
) -> None:
    await post_orders(client, "BAD", 30, parseable=False)

    first = await check(client, clock)
    assert first.routing == "paused" and "address_parse" in first.started
    [alert] = await ops_notices(client)
    assert alert.startswith("⛔ 自动分单已暂停: 地址解析成功率 0% (0/30), 低于 95%")
    assert "新工单转入综合组" in alert

    # Overdue tickets now go to the triage group, saying why.
    await tick(client, T0 + 2 * 60 * M)
    tickets = await all_rows(client.app[SESSIONS], Ticket)
    assert len(tickets) == 30
    assert {(t.group_key, t.route_rule) for t in tickets} == {("general", "暂停分单")}
    assert "自动分单已暂停 (地址解析成功率 0% (0/30)" in tickets[0].route_reason

    await post_orders(client, "BAD2", 10, parseable=False)
    clock.advance(5 * M)
    again = await check(client, clock)
    assert (again.started, again.routing) == ([], None)
    # One alert for the incident, not one per order.
    assert await ops_notices(client, "分单") == [alert]

    clock.advance(31 * M)  # the bad minutes leave the window
    await post_orders(client, "GOOD", 25, parseable=True)
    recovered = await check(client, clock)
    assert recovered.routing == "resumed" and "address_parse" in recovered.ended
    assert await ops_notices(client, "分单") == [
        alert,
        "✅ 自动分单已恢复: 地址解析成功率 100% (25/25)",
    ]
    # Without [wecom] nothing drains the outbox: that is an incident of its own.
    [backlog] = await ops_notices(client, "待发消息")
    assert backlog.startswith("⚠️ 健康告警: 待发消息最长等待 36分 (阈值 ≤ 10分)")


async def test_ops_pause_by_hand_and_the_guard_leaves_it(
    client: TestClient, clock: FakeClock
) -> None:
    reply = await say(client, "ops-liu", "暂停分单 分单规则有误", chat="direct", now=clock.now())
    assert reply == "已暂停自动分单, 新工单进入综合组。恢复请发送「恢复分单」"
    await post_orders(client, "GOOD", 25, parseable=True)
    assert (await check(client, clock)).routing is None  # good addresses: a manual pause stays

    screen = await say(client, "ops-liu", "健康", chat="direct", now=clock.now())
    assert "自动分单: ops-liu 手动暂停于 03-02 09:00 (分单规则有误)" in screen
    assert "✅ 地址解析成功率: 100% (25/25) (阈值 ≥ 95% (至少 20 个样本))" in screen

    assert "只能私聊" in await say(client, "ops-liu", "恢复分单", now=clock.now())
    assert "仅限运维使用" in await say(client, "boss-east", "恢复分单", chat="direct")
    assert await say(client, "ops-liu", "resume-routing", chat="direct") == "已恢复自动分单"
    assert await say(client, "ops-liu", "恢复分单", chat="direct") == "自动分单并未暂停"


async def test_the_health_screen_lists_every_signal(client: TestClient, clock: FakeClock) -> None:
    await post_orders(client, "BAD", 30, parseable=False)
    bad = [shop_order("X1"), {"order_no": "X2"}]  # the second misses required fields
    await client.post("/api/v1/orders/shop", json=bad, headers=auth("all"))

    screen = await say(client, "boss-east", "health", now=clock.now())

    lines = screen.splitlines()
    assert lines[0].startswith("🩺 健康状况 (03-02 09:00): ")
    assert "⚠️ 地址解析成功率: 0% (0/30)" in screen
    assert "自营商城 被拒订单占比: 3% (1/32)" in screen and "shop" not in screen
    assert "距上次超时巡检: 无" in screen
    assert lines[-1] == "自动分单: 运行中"
