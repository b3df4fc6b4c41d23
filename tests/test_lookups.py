"""Looking things up from the chat: 查询 for customer service, 我的, 待办, and who may see
what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.keys import CLOCK, RULES, SESSIONS, WECOM
from jobs import deliver, watch
from storage.tickets import add_timeline, timeline_row
from tests.chat import OPENED, H, M, open_ticket, say, tick
from tests.support import T0, auth, shop_order, stage_event


def customer(order_no: str, mobile: str, **fields: Any) -> dict[str, Any]:
    order = shop_order(order_no, **fields)
    order["receiver"]["mobile"] = mobile
    return order


async def test_customer_service_finds_every_recent_order_by_phone(client: TestClient) -> None:
    await open_ticket(
        client,
        customer("SH001", "13812345678"),
        customer("SH002", "138-1234-5678", paid_at=T0 + H, total_fen=5900),
        customer("SH003", "13900001111"),
    )
    await say(client, "zhang", "认领 1")

    reply = await say(client, "kefu", "查询 +86 138 1234 5678", chat="direct", now=OPENED + 30 * M)

    assert reply.splitlines() == [
        "客户 138****5678 近 90 天的订单 (最多 10 个):",
        "1. SH002 自营商城 ¥59.00 03-02 10:00 付款",
        "   已付款待拣货(预计30分内开始拣货)",
        "2. SH001 自营商城 ¥129.00 03-02 09:00 付款",
        "   已付款待拣货(已超出承诺时间30分)",
        "   工单 #1 跟进中, 处理人: zhang",
    ]
    by_order = await say(client, "kefu", "query SH001", chat="direct", now=OPENED + 30 * M)
    assert by_order == reply


@pytest.mark.parametrize(
    ("user", "chat", "text", "expected"),
    [
        ("kefu", "group", "查询 13812345678", "「查询」只能私聊订单助手使用"),
        ("zhang", "direct", "查询 13812345678", "抱歉, 「查询」仅限客服、运维、主管使用"),
        ("kefu", "direct", "查询 13700000000", "近 90 天没有手机号 137****0000 的订单"),
        ("kefu", "direct", "查询 NOPE", "找不到订单 NOPE"),
    ],
    ids=["in-a-group", "member", "unknown-phone", "unknown-order"],
)
async def test_query_refusals(
    client: TestClient, user: str, chat: Any, text: str, expected: str
) -> None:
    await open_ticket(client)
    reply = await say(client, user, text, chat=chat)
    assert reply.startswith(expected)
    assert "13812345678" not in reply


async def test_mine_lists_my_open_tickets_most_overdue_first(client: TestClient) -> None:
    await open_ticket(
        client,
        shop_order("SH001", paid_at=T0 + 10 * M),
        shop_order("SH002"),
        shop_order("SH003"),
    )
    await tick(client, OPENED + 10 * M)
    for ticket in ("1", "3"):  # SH002 and SH001, whose deadline came 10 minutes later
        await say(client, "zhang", f"认领 {ticket}", now=OPENED + 20 * M)

    reply = await say(client, "zhang", "我的", now=OPENED + 30 * M)

    lines = reply.splitlines()
    assert lines[0] == "您的未完成工单 2 张:"
    assert lines[1].startswith("#1 SH002 ") and "超时30分" in lines[1]
    assert lines[2].startswith("#3 SH001 ") and "超时20分" in lines[2]
    assert all("处理人 zhang" in line for line in lines[1:])
    assert await say(client, "wang", "mine") == "您没有未完成的工单"


async def test_list_shows_a_groups_open_tickets_oldest_first(client: TestClient) -> None:
    orders = [shop_order(f"SH{n:03}", paid_at=T0 - n * M) for n in range(1, 23)]
    orders.append(shop_order("BIG01", total_fen=900_000))  # routed to the vip group
    await open_ticket(client, *orders)

    reply = await say(client, "zhang", "待办")

    lines = reply.splitlines()
    assert lines[0] == "华东组 未关闭工单 22 张:"
    assert lines[1].split()[1] == "SH022"  # paid earliest, so the most overdue
    assert [line.split()[1] for line in lines[1:21]] == [f"SH{n:03}" for n in range(22, 2, -1)]
    assert lines[-1] == "…另有 2 张未列出"
    assert "→ 认领" in lines[1]

    vip = await say(client, "zhang", "list 大额组")
    assert vip.splitlines()[0] == "大额组 未关闭工单 1 张:" and "BIG01" in vip
    assert (await say(client, "ops-liu", "待办")).startswith(
        "华东组、大额组、综合组 未关闭工单 23 张"
    )
    assert (await say(client, "zhang", "待办 火星组")).startswith("没有处理组「火星组」。可选:")


async def test_notes_only_from_the_group_or_customer_service(client: TestClient) -> None:
    await open_ticket(client)
    assert "只有该组成员或主管可以备注" in await say(client, "li", "备注 1 我来看看")
    assert await say(client, "kefu", "备注 SH001 客户来电催发货") == "已为工单 #1 添加备注"
    assert "客户来电催发货" in await say(client, "zhang", "状态 1")


async def test_status_says_when_the_next_stage_is_expected(client: TestClient) -> None:
    await open_ticket(client, shop_order("SH002", paid_at=T0 + H))  # due at T0 + 3h, asked at +2h05
    reply = await say(client, "caiwu", "状态 SH002")
    assert "环节: 已付款待拣货(预计55分内开始拣货), 截止 03-02 12:00" in reply


async def test_ticket_lines_say_just_overdue_and_count_escalations_from_1(
    client: TestClient,
) -> None:
    await open_ticket(client)  # due at OPENED
    fresh = await say(client, "zhang", "待办", now=OPENED + timedelta(seconds=30))
    assert "已付款待拣货 刚刚超时 " in fresh.splitlines()[1] and "0秒" not in fresh

    await tick(client, T0 + 4 * H)  # the supervisor's level
    [line] = (await say(client, "zhang", "待办", now=T0 + 4 * H)).splitlines()[1:]
    assert line.startswith("[第1次升级] #1 SH001 自营商城 已付款待拣货 超时2小时 ")


async def test_the_timeline_names_groups_and_escalations_as_people_read_them(
    bot: TestClient,
) -> None:
    """Through the real sender: the alert's delivery and the escalation land in the timeline,
    and rows written with a group's key or as "第2级" (before) read the same way."""
    now = datetime.now(UTC).replace(microsecond=0)
    order = shop_order("SH500", province="上海市", paid_at=now - 5 * H)
    response = await bot.post("/api/v1/orders/shop", json=order, headers=auth("all"))
    assert response.status == 200
    app = bot.app
    await watch.run(app[SESSIONS], app[RULES].current(), now)  # the alert and the first escalation
    app[CLOCK].current = now + timedelta(minutes=1)  # past group_wait
    assert (
        await deliver.run(app[SESSIONS], app[RULES].current(), app[WECOM], app[CLOCK], "t")
    ).messages_sent
    async with app[SESSIONS].begin() as session:
        old = [("alerted", "已送达 east"), ("escalated", "第2级")]
        await add_timeline(session, [timeline_row(1, kind, now, detail) for kind, detail in old])

    reply = await say(bot, "zhang", "状态 1", now=now + timedelta(minutes=2))

    assert "升级 第1次, 通知主管 boss-east" in reply
    assert reply.count("告警 已送达 华东组") == 2  # delivered now, and the row from before
    assert "升级 第1次\n" in reply + "\n"
    assert " east" not in reply and "第2级" not in reply


async def test_status_shows_the_stages_entered_among_the_tickets_events(
    client: TestClient,
) -> None:
    await open_ticket(client)
    await say(client, "zhang", "认领 1", now=OPENED + 5 * M)
    await say(client, "zhang", "备注 1 客户改号 13912345678", now=OPENED + 6 * M)
    client.app[CLOCK].current = OPENED + 10 * M  # the warehouse reports picking, which closes #1
    response = await client.post(
        "/api/v1/events",
        json=stage_event("SH001", "picking", OPENED + 10 * M),
        headers=auth("wms"),
    )
    assert (await response.json())["updated"] == 1

    reply = await say(client, "kefu", "状态 SH001", now=OPENED + 20 * M)

    assert reply.splitlines()[3:] == [
        "工单 #1 已关闭 (华东组, 已付款待拣货超时), 处理人: zhang",
        "  03-02 09:00 进入「已付款待拣货」",
        "  03-02 11:00 开单: 命中规则「华东」: 省份=上海市",
        "  03-02 11:05 认领 zhang",
        "  03-02 11:06 备注 zhang 客户改号 139****5678",  # numbers in notes masked too
        "  03-02 11:10 进入「仓库拣货中」",
        "  03-02 11:10 完成 订单进入「仓库拣货中」",
    ]
