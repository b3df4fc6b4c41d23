"""快递100's pushes through the sandbox into the bot: scans kept on the order, signed pushes
only, replays changing nothing, odd scans (unknown waybill, unknown code, out of order, from
the future) recorded without harm, 签收 delivering the order, 拒签 opening a return ticket at
once in the routed group, and a new scan closing the parcel's stall ticket."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.keys import RULES, SESSIONS
from bot.tracking import PUSH_PATH
from rules.kinds import Kind, order_subject, parcel_episode
from rules.stages import Stage
from services.lifecycle.signals import open_ticket
from storage.models import Order, OrderEvent, OutboxMessage, SmsMessage, Ticket
from tests.sms_side import LINK_BASE, sms_section
from tests.support import T0, FakeClock
from tests.tracking_side import (
    BotFactory,
    carrier_fixture,  # noqa: F401
    carrier_state,
    make_tracked_fixture,  # noqa: F401
    order,
    parcel,
    push_param,
    push_status,
    rows,
    scan,
    scans,
    ship,
    shipped_order,
    signed_push,
    tick_subscribe,
    tracked_fixture,  # noqa: F401
)

H = timedelta(hours=1)
NUMBER = "YT1234567890"
SUCCESS = {"result": True, "returnCode": "200", "message": "成功"}


@pytest.fixture
async def followed(tracked: TestClient, carrier: TestServer) -> TestClient:
    """An order shipped at T0 from 上海 and its waybill subscribed with 快递100."""
    await ship(tracked, shipped_order("SH1", NUMBER, province="上海市"))
    assert (await tick_subscribe(tracked, T0)).accepted == 1
    return tracked


async def test_scans_reach_the_order(
    followed: TestClient, carrier: TestServer, clock: FakeClock
) -> None:
    assert await scan(
        carrier, clock, NUMBER, "1", "【杭州市】圆通速递 已揽收", T0 + H, "浙江,杭州市"
    )
    assert await scan(
        carrier, clock, NUMBER, "1002", "快件已发往 上海转运中心", T0 + 3 * H, "浙江,杭州市"
    )

    kept = await scans(followed)
    assert [(s.state, s.code, s.text, s.place) for s in kept] == [
        ("picked_up", "1", "【杭州市】圆通速递 已揽收", "浙江,杭州市"),
        ("in_transit", "1002", "快件已发往 上海转运中心", "浙江,杭州市"),
    ]
    assert {s.source for s in kept} == {"kuaidi100"}
    moving = await parcel(followed)
    assert (moving.state, moving.state_code, moving.last_scan_at) == (
        "in_transit",
        "1002",
        T0 + 3 * H,
    )
    assert moving.last_scan_text == "快件已发往 上海转运中心"
    assert moving.stall_check_at == T0 + 3 * H + timedelta(hours=24)
    assert moving.origin_province == "浙江省"
    # every push was answered with exactly the body 快递100 expects
    pushes = (await carrier_state(carrier))["pushes"]
    assert [p["accepted"] for p in pushes] == [True, True]


async def test_the_exact_success_answer(followed: TestClient, clock: FakeClock) -> None:
    clock.advance(2 * H)
    form = signed_push(push_param(NUMBER, [("0", "运输中", T0 + H)]))
    response = await followed.post(PUSH_PATH, data=form)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert await response.read() == '{"result":true,"returnCode":"200","message":"成功"}'.encode()


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"param": "{}"},
        "wrong-salt",
        "tampered",
    ],
)
async def test_a_forged_push_is_refused_and_changes_nothing(
    followed: TestClient, form: object, clock: FakeClock
) -> None:
    clock.advance(2 * H)
    param = push_param(NUMBER, [("3", "已签收, 签收人: 本人", T0 + H)])
    if form == "wrong-salt":
        form = signed_push(param, salt="guessed")
    elif form == "tampered":
        form = signed_push(param) | {"param": signed_push(param)["param"].replace("本人", "他人")}
    before = await parcel(followed)

    response = await followed.post(PUSH_PATH, data=form)

    assert response.status == 403
    assert (await response.json())["result"] is False
    assert await scans(followed) == []
    after = await parcel(followed)
    assert (after.state, after.updated_at) == (before.state, before.updated_at)
    assert (await order(followed, "SH1")).stage == "shipped"


async def test_a_replayed_push_changes_nothing(followed: TestClient, clock: FakeClock) -> None:
    clock.advance(6 * H)
    form = signed_push(
        push_param(NUMBER, [("0", "到达 上海转运中心", T0 + 5 * H), ("1", "已揽收", T0 + H)])
    )
    assert (await followed.post(PUSH_PATH, data=form)).status == 200
    first = await parcel(followed)
    clock.advance(H)

    again = await followed.post(PUSH_PATH, data=form)

    assert again.status == 200 and await again.json() == SUCCESS
    assert len(await scans(followed)) == 2
    assert (await parcel(followed)).updated_at == first.updated_at


async def test_odd_scans_are_recorded_without_harm(
    followed: TestClient, caplog: pytest.LogCaptureFixture, clock: FakeClock
) -> None:
    clock.advance(6 * H)
    form = signed_push(push_param(NUMBER, [("0", "离开 杭州转运中心", T0 + 4 * H)]))
    assert (await followed.post(PUSH_PATH, data=form)).status == 200

    # an older scan arriving late, an unknown code, and one from next week, in one push
    later = push_param(
        NUMBER,
        [
            ("0", "时钟错乱的扫描", T0 + timedelta(days=7)),
            ("999", "网点自定义状态", T0 + 5 * H),
            ("0", "离开 杭州转运中心", T0 + 4 * H),
            ("1", "已揽收", T0 + H),
        ],
    )
    response = await followed.post(PUSH_PATH, data=signed_push(later))

    assert await response.json() == SUCCESS  # 快递100 must stop re-sending
    kept = {s.text: s for s in await scans(followed)}
    assert set(kept) == {"离开 杭州转运中心", "网点自定义状态", "已揽收"}
    assert (kept["网点自定义状态"].code, kept["网点自定义状态"].state) == ("999", None)
    now = await parcel(followed)
    assert now.state == "in_transit"  # neither the unknown code nor 揽收 moved it back
    assert now.last_scan_at == T0 + 5 * H
    assert "时间在未来" in caplog.text and "状态码未知" in caplog.text
    caplog.clear()  # the same trace again: the unknown code is not reported twice
    assert (await followed.post(PUSH_PATH, data=signed_push(later))).status == 200
    assert "状态码未知" not in caplog.text and "时间在未来" in caplog.text


async def test_a_push_for_an_unknown_waybill_is_answered(
    followed: TestClient, caplog: pytest.LogCaptureFixture, clock: FakeClock
) -> None:
    clock.advance(2 * H)
    form = signed_push(push_param("ZT0000000001", [("0", "运输中", T0 + H)]))

    response = await followed.post(PUSH_PATH, data=form)

    assert await response.json() == SUCCESS
    assert await scans(followed) == []
    assert "未跟踪的单号 ZT0000000001" in caplog.text


async def test_signed_for_delivers_the_order(
    followed: TestClient, carrier: TestServer, clock: FakeClock
) -> None:
    await scan(
        carrier, clock, NUMBER, "5", "派件中, 快递员 李四 13900001111", T0 + 20 * H, "上海,上海市"
    )
    await scan(carrier, clock, NUMBER, "301", "已签收, 签收人: 本人", T0 + 22 * H, "上海,上海市")

    delivered = await parcel(followed)
    assert (delivered.state, delivered.delivered_at) == ("delivered", T0 + 22 * H)
    assert delivered.stall_check_at is None
    assert delivered.subscription == "ended"  # 快递100 said shutdown
    the_order = await order(followed, "SH1")
    assert (the_order.stage, the_order.stage_entered_at) == ("delivered", T0 + 22 * H)
    events = [(e.source, e.stage, e.applied) for e in await rows(followed, OrderEvent)]
    assert events[-1] == ("kuaidi100", "delivered", True)


async def test_picked_up_ships_an_order_not_shipped_yet(
    followed: TestClient, carrier: TestServer, clock: FakeClock
) -> None:
    async with followed.app[SESSIONS].begin() as session:
        found = await session.scalar(select(Order).where(Order.channel_order_id == "SH1"))
        assert found is not None
        found.stage = Stage.PICKING
    await scan(carrier, clock, NUMBER, "1", "已揽收", T0 + H)

    assert (await order(followed, "SH1")).stage == "shipped"


async def test_rejected_opens_a_return_ticket_at_once(
    followed: TestClient, carrier: TestServer, clock: FakeClock
) -> None:
    await scan(
        carrier, clock, NUMBER, "14", "收件人拒签, 原因: 不想要了", T0 + 30 * H, "上海,上海市"
    )

    [ticket] = await rows(followed, Ticket)
    assert (ticket.kind, ticket.episode, ticket.status) == (
        Kind.RETURN,
        parcel_episode((await parcel(followed)).id),
        "open",
    )
    assert ticket.group_key == "east"  # the rule for parcel troubles
    assert ticket.summary is not None
    assert "圆通" in ticket.summary and "拒签" in ticket.summary
    assert "不想要了" in ticket.summary and "上海,上海市" in ticket.summary
    [alert] = [m for m in await rows(followed, OutboxMessage) if m.kind == "alert"]
    assert (alert.ticket_id, alert.target) == (ticket.id, "east")
    # the same scan again (and the return going on) opens no second ticket
    await scan(carrier, clock, NUMBER, "6", "退回中", T0 + 40 * H)
    assert len(await rows(followed, Ticket)) == 1
    assert (await parcel(followed)).state == "returning"


async def test_the_customer_is_texted_of_a_refusal_once(
    make_tracked: BotFactory, carrier: TestServer, clock: FakeClock
) -> None:
    bot = await make_tracked(sms=sms_section("tencent"))
    await ship(bot, shipped_order("SH1", NUMBER))
    await tick_subscribe(bot, T0)

    await scan(carrier, clock, NUMBER, "14", "收件人拒签", T0 + 30 * H)
    await scan(carrier, clock, NUMBER, "6", "退回中", T0 + 31 * H)  # not in notify_customer

    [text] = await rows(bot, SmsMessage)
    the_parcel = await parcel(bot)
    assert (text.purpose, text.phone, text.order_id) == (
        "rejected",
        "13812345678",
        the_parcel.order_id,
    )
    assert text.dedup_key == f"rejected:parcel:{the_parcel.id}"
    assert text.params["carrier"] == "圆通" and text.params["tracking_no"] == NUMBER
    assert text.params["link"].startswith(LINK_BASE)
    # 快递100 pushing the refusal again texts nobody twice
    form = signed_push(push_param(NUMBER, [("14", "收件人拒签", T0 + 30 * H)]))
    assert (await bot.post(PUSH_PATH, data=form)).status == 200
    assert len(await rows(bot, SmsMessage)) == 1


async def test_a_new_scan_closes_the_stall_ticket(
    followed: TestClient, carrier: TestServer, clock: FakeClock
) -> None:
    await scan(carrier, clock, NUMBER, "0", "到达 杭州转运中心", T0 + H, "浙江,杭州市")
    stalled = await parcel(followed)
    policy = followed.app[RULES].current()
    async with followed.app[SESSIONS].begin() as session:
        the_order = await session.get(Order, stalled.order_id)
        assert the_order is not None
        ticket_id = await open_ticket(
            session,
            policy,
            the_order,
            kind=Kind.STALL,
            episode=parcel_episode(stalled.id, stalled.last_scan_at),
            summary="24小时无新扫描",
            now=T0 + 26 * H,
        )
        other = await open_ticket(
            session,
            policy,
            the_order,
            kind=Kind.STALL,
            episode=parcel_episode(stalled.id + 1, T0),
            summary="另一个包裹",
            now=T0 + 26 * H,
        )

    await scan(carrier, clock, NUMBER, "0", "离开 杭州转运中心", T0 + 27 * H, "浙江,杭州市")

    tickets = {t.id: t for t in await rows(followed, Ticket)}
    assert (tickets[ticket_id].status, tickets[ticket_id].resolution) == ("resolved", "auto")
    assert other is not None and tickets[other].status == "open"  # another parcel's silence
    assert {(m.kind, m.ticket_id) for m in await rows(followed, OutboxMessage)} >= {
        ("resolution", ticket_id)
    }
    assert order_subject(stalled.order_id) == tickets[ticket_id].subject


async def test_abort_ends_the_subscription(followed: TestClient, carrier: TestServer) -> None:
    """(An abort for no record yet subscribes again: tests/test_tracking_abort.py.)"""
    assert await push_status(carrier, NUMBER, "abort", "60天无变化")

    aborted = await parcel(followed)
    assert aborted.subscription == "ended"
    assert "60天无变化" in (aborted.subscribe_error or "")


async def test_a_push_the_bot_missed_is_sent_again(
    aiohttp_server: Any, make_tracked: BotFactory, carrier: TestServer, clock: FakeClock
) -> None:
    """快递100 re-sends a push that got no success answer (the sandbox's 35 minutes are 50 ms
    here): a push lost on the way (a gateway in front of the bot failing once) loses no scan."""
    bot: list[TestClient] = []

    async def gateway(request: web.Request) -> web.Response:
        if not getattr(gateway, "failed", False):
            gateway.failed = True  # type: ignore[attr-defined]
            return web.Response(status=502, text="Bad Gateway")
        form = dict(await request.post())
        answer = await bot[0].post(PUSH_PATH, data=form)
        return web.Response(body=await answer.read(), status=answer.status)

    front = web.Application()
    front.router.add_post("/push", gateway)
    server = await aiohttp_server(front)
    bot.append(await make_tracked(callback_url=str(server.make_url("/push"))))
    await ship(bot[0], shipped_order("SH1", NUMBER))
    await tick_subscribe(bot[0], T0)

    assert not await scan(carrier, clock, NUMBER, "0", "运输中", T0 + H)
    for _ in range(200):
        pushes = (await carrier_state(carrier))["pushes"]
        if pushes[-1]["accepted"]:
            break
        await asyncio.sleep(0.02)
    assert [(p["http_status"], p["accepted"]) for p in pushes] == [(502, False), (200, True)]
    assert [s.text for s in await scans(bot[0])] == ["运输中"]
