"""The lifecycle service on a real database: every stage and ticket transition it writes,
the rows that go with each (order events, timeline, notices), and tickets of two kinds on
one order."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rules.digest import summary, to_csv
from rules.kinds import Kind, order_subject, stage_episode
from rules.stages import Stage
from services.config import Config, parse_config
from services.lifecycle import actions
from services.lifecycle.signals import open_ticket
from services.lifecycle.stages import Sighting, StageReport, apply_stage_events, record_orders
from services.lifecycle.watch import handle_due
from services.notices import load_facts, render_messages
from services.policy import Policy
from storage.db import make_engine, make_sessionmaker
from storage.models import Order, OrderEvent, OutboxMessage, Ticket, TicketEvent
from storage.orders import OrderRow, claim_due_orders, orders_by_channel_id
from storage.outbox import messages_after
from tests.support import T0, config_data

H = timedelta(hours=1)


def order_row(order_no: str, stage: str = "paid", entered_at: datetime = T0) -> OrderRow:
    """A shop order's columns as ingest hands them over (Shanghai, 129 yuan, normal)."""
    return {
        "channel_order_id": order_no,
        "stage": stage,
        "stage_entered_at": entered_at,
        "shop": "自营旗舰店",
        "order_type": "normal",
        "amount_fen": 12900,
        "category": "服饰",
        "province": "上海市",
        "city": "上海市",
        "district": "浦东新区",
        "address_text": None,
        "address_source": "channel",
        "receiver_phone": "13812345678",
        "created_at": T0,
        "paid_at": T0,
        "raw": {},
        "ship_by_at": None,
        "shipped_at": None,
        "hold_reason": None,
        "buyer_message": None,
        "seller_memo": None,
        "receiver_phone_masked": None,
        "buyer_handles": {},
        "categories": [],
        "channel": "shop",
        "received_at": T0,
        "updated_at": T0,
    }


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
def policy(config: Config) -> Policy:
    return Policy.from_config(config)


async def rows(sessions: async_sessionmaker[AsyncSession], model: type[Any]) -> list[Any]:
    async with sessions() as session:
        return list((await session.scalars(select(model).order_by(model.id))).all())


async def new_order(
    sessions: async_sessionmaker[AsyncSession], policy: Policy, order_no: str = "SH1"
) -> Order:
    async with sessions.begin() as session:
        await record_orders(session, policy, "shop", [order_row(order_no)], [], T0)
    [order] = [o for o in await rows(sessions, Order) if o.channel_order_id == order_no]
    return order


async def watch_at(
    sessions: async_sessionmaker[AsyncSession], policy: Policy, now: datetime
) -> tuple[int, int, int]:
    async with sessions.begin() as session:
        due = await claim_due_orders(session, now, 100)
        counts = await handle_due(session, policy, due, now, None)
    return counts.opened, counts.escalated, counts.reminded


async def overdue_ticket(sessions: async_sessionmaker[AsyncSession], policy: Policy) -> Ticket:
    """SH1 in paid since T0, its 2-hour deadline missed: its overdue ticket."""
    await new_order(sessions, policy)
    assert await watch_at(sessions, policy, T0 + 2 * H) == (1, 0, 0)
    [ticket] = await rows(sessions, Ticket)
    return ticket


async def timeline(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[Any, ...]]:
    return [(e.kind, e.actor, e.detail) for e in await rows(sessions, TicketEvent)]


async def test_a_new_order_enters_its_first_stage_as_an_event_once(
    sessions: async_sessionmaker[AsyncSession], policy: Policy
) -> None:
    order = await new_order(sessions, policy)
    assert (order.stage, order.deadline_at, order.next_check_at) == ("paid", T0 + 2 * H, T0 + 2 * H)
    [event] = await rows(sessions, OrderEvent)
    assert (event.order_id, event.source, event.stage, event.occurred_at, event.applied) == (
        order.id,
        "shop",
        "paid",
        T0,
        True,
    )
    assert event.event_id == f"SH1:paid:{int(T0.timestamp())}"  # as migration 0010 writes it

    async with sessions.begin() as session:
        [stored] = (await orders_by_channel_id(session, "shop", ["SH1"])).values()
        sighting = Sighting(stored, "paid", T0, facts_changed=False, ship_by_moved=False)
        recorded = await record_orders(session, policy, "shop", [], [sighting], T0 + H)
    assert (recorded.new, recorded.changed, recorded.resolved) == ([], [], 0)
    assert len(await rows(sessions, OrderEvent)) == 1


async def test_a_missed_deadline_opens_one_overdue_ticket_and_escalates_once(
    sessions: async_sessionmaker[AsyncSession], policy: Policy
) -> None:
    ticket = await overdue_ticket(sessions, policy)
    assert (ticket.kind, ticket.subject, ticket.episode) == (
        "overdue",
        order_subject(ticket.order_id),
        stage_episode("paid", T0),
    )
    assert (ticket.status, ticket.group_key, ticket.level) == ("open", "east", 1)
    [alert] = await rows(sessions, OutboxMessage)
    assert (alert.kind, alert.level, alert.target) == ("alert", 1, "east")

    # The default escalation tells the supervisor 4 hours after the stage was entered, once.
    assert await watch_at(sessions, policy, T0 + 4 * H) == (0, 1, 0)
    assert await watch_at(sessions, policy, T0 + 5 * H) == (0, 0, 0)
    [escalated] = await rows(sessions, Ticket)
    assert escalated.level == 2
    escalation = (await rows(sessions, OutboxMessage))[-1]
    assert (escalation.kind, escalation.target_kind, escalation.target) == (
        "escalation",
        "user",
        "boss-east",
    )
    assert await timeline(sessions) == [("escalated", None, "第1次, 通知主管 boss-east")]


async def test_claim_assign_move_snooze_note_and_resolve_by_hand(
    sessions: async_sessionmaker[AsyncSession], policy: Policy
) -> None:
    ticket = await overdue_ticket(sessions, policy)
    [order] = await rows(sessions, Order)
    now = T0 + 3 * H
    async with sessions.begin() as session:
        assert await actions.claim(session, ticket, order, "zhang", now)
        assert not await actions.claim(session, ticket, order, "li", now)  # owned already
        assert await actions.assign(session, ticket, order, "li", "boss-east", now)
        assert await actions.snooze(session, policy, ticket, now + H, "li", now)
        await actions.note(session, ticket, "客户要求周末送", "li", now)
    [claimed] = await rows(sessions, Ticket)
    assert (claimed.owner, claimed.claimed_at, claimed.snoozed_until) == ("li", now, now + H)
    notices = [(m.kind, m.target_kind, m.target) for m in await rows(sessions, OutboxMessage)]
    assert notices[1:] == [
        ("claimed", "group", "east"),
        ("assigned", "group", "east"),
        ("assigned", "user", "li"),
    ]

    later = now + H
    async with sessions.begin() as session:
        assert await actions.move(session, policy, claimed, "vip", "boss-east", later)
    [moved] = await rows(sessions, Ticket)
    assert (moved.group_key, moved.owner, moved.claimed_at) == ("vip", None, None)
    realert = (await rows(sessions, OutboxMessage))[-2]
    assert (realert.kind, realert.level, realert.target) == ("alert", 1, "vip")
    [woken] = await rows(sessions, Order)
    assert woken.next_check_at is not None and woken.next_check_at <= later  # watched again

    async with sessions.begin() as session:
        assert await actions.resolve_by_hand(session, moved, "已与客户确认", "boss-vip", later)
        assert not await actions.resolve_by_hand(session, moved, None, "boss-vip", later)
        assert not await actions.snooze(session, policy, moved, None, "li", later)
        assert not await actions.claim(session, moved, order, "li", later)
    [closed] = await rows(sessions, Ticket)
    assert (closed.status, closed.resolution, closed.resolved_at) == ("resolved", "manual", later)
    [settled] = await rows(sessions, Order)
    assert settled.next_check_at is None  # this stage entry needs no more checks
    assert await timeline(sessions) == [
        ("claimed", "zhang", None),
        ("assigned", "boss-east", "→ li"),
        ("snoozed", "li", "提醒暂停至 03-02 13:00"),
        ("noted", "li", "客户要求周末送"),
        ("assigned", "boss-east", "→ 大额组"),
        ("resolved", "boss-vip", "已与客户确认"),
    ]


async def test_a_ticket_of_another_kind_sits_beside_the_overdue_one_and_its_kind_decides_closing(
    sessions: async_sessionmaker[AsyncSession], policy: Policy
) -> None:
    overdue = await overdue_ticket(sessions, policy)
    [order] = await rows(sessions, Order)
    now = T0 + 3 * H
    async with sessions.begin() as session:
        payment = await open_ticket(
            session,
            policy,
            order,
            kind=Kind.PAYMENT,
            episode="PAY-1",
            summary="实付 129.00 元, 对账单 119.00 元",
            now=now,
        )
        stall = await open_ticket(
            session,
            policy,
            order,
            kind=Kind.STALL,
            episode="SF1",
            summary="运单 3 天没有轨迹",
            now=now,
        )
        again = await open_ticket(
            session, policy, order, kind=Kind.PAYMENT, episode="PAY-1", summary="…", now=now
        )
    assert payment is not None and stall is not None and again is None
    by_id = {t.id: t for t in await rows(sessions, Ticket)}
    assert (by_id[payment].kind, by_id[payment].stage, by_id[payment].subject) == (
        "payment",
        None,
        order_subject(order.id),
    )
    assert (by_id[stall].kind, by_id[stall].stage) == ("stall", "paid")

    # The order moves on: the overdue and the stall ticket close, the payment one stays open.
    async with sessions.begin() as session:
        [stored] = (await orders_by_channel_id(session, "shop", ["SH1"])).values()
        report = StageReport(stored, "wms-1", Stage.PICKING, now + H)
        old = StageReport(stored, "wms-0", Stage.PAID, now + H)
        outcomes, resolved = await apply_stage_events(
            session, policy, "wms", [report, old], now + H
        )
    assert [(o.applied, o.refusal is not None) for o in outcomes] == [(True, False), (False, True)]
    assert resolved == 2
    status = {t.id: (t.status, t.resolution) for t in await rows(sessions, Ticket)}
    assert status == {
        overdue.id: ("resolved", "auto"),
        stall: ("resolved", "auto"),
        payment: ("open", None),
    }
    resolutions = [
        m.ticket_id for m in await rows(sessions, OutboxMessage) if m.kind == "resolution"
    ]
    assert sorted(resolutions) == sorted([overdue.id, stall])
    events = [(e.source, e.stage, e.applied) for e in await rows(sessions, OrderEvent)]
    assert events == [("shop", "paid", True), ("wms", "picking", True), ("wms", "paid", False)]


async def test_a_record_moving_the_order_is_an_event_and_a_backfill_holds_back_the_overdue(
    sessions: async_sessionmaker[AsyncSession], policy: Policy
) -> None:
    await new_order(sessions, policy)
    held: list[OrderRow] = []
    async with sessions.begin() as session:
        [stored] = (await orders_by_channel_id(session, "shop", ["SH1"])).values()
        sighting = Sighting(stored, "shipped", T0 + H, facts_changed=False, ship_by_moved=False)
        late = order_row("SH2", entered_at=T0 - 5 * H)
        recorded = await record_orders(session, policy, "shop", [late], [sighting], T0, held)
    assert [o["channel_order_id"] for o in recorded.changed] == ["SH1"]
    assert [o["channel_order_id"] for o in held] == ["SH2"]
    orders = {o.channel_order_id: o for o in await rows(sessions, Order)}
    assert (orders["SH1"].stage, orders["SH1"].shipped_at) == ("shipped", T0 + H)
    assert orders["SH2"].next_check_at is None  # recorded, not watched
    events = [(e.order_id, e.source, e.stage) for e in await rows(sessions, OrderEvent)]
    assert events == [
        (orders["SH1"].id, "shop", "paid"),
        (orders["SH2"].id, "shop", "paid"),
        (orders["SH1"].id, "shop", "shipped"),
    ]


async def test_reminders_repeat_the_alert_until_a_snooze_holds_them(
    sessions: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    data = config_data(database_url)
    data["watch"] |= {"remind_every": "1h"}
    policy = Policy.from_config(parse_config(data))
    ticket = await overdue_ticket(sessions, policy)
    [order] = await rows(sessions, Order)
    assert order.next_check_at == T0 + 3 * H  # the first reminder is due an hour after the alert
    assert await watch_at(sessions, policy, T0 + 3 * H) == (0, 0, 1)
    async with sessions.begin() as session:
        assert await actions.claim(session, ticket, order, "zhang", T0 + 3 * H)
        assert await actions.snooze(session, policy, ticket, T0 + 6 * H, "zhang", T0 + 3 * H)
    assert await watch_at(sessions, policy, T0 + 5 * H) == (0, 1, 0)  # escalation, no reminder
    assert await watch_at(sessions, policy, T0 + 6 * H) == (0, 0, 1)
    reminders = [
        (m.target_kind, m.target)
        for m in await rows(sessions, OutboxMessage)
        if m.kind == "reminder"
    ]
    assert reminders == [("group", "east"), ("user", "zhang")]


async def test_alerts_and_notices_are_worded_by_the_tickets_kind(
    sessions: async_sessionmaker[AsyncSession], policy: Policy
) -> None:
    overdue = await overdue_ticket(sessions, policy)
    [order] = await rows(sessions, Order)
    now = T0 + 3 * H
    async with sessions.begin() as session:
        payment = await open_ticket(
            session,
            policy,
            order,
            kind=Kind.PAYMENT,
            episode="PAY-1",
            summary="实付比对账单多 10 元",
            now=now,
        )
        stall = await open_ticket(
            session,
            policy,
            order,
            kind=Kind.STALL,
            episode="SF1",
            summary="运单 3 天没有轨迹",
            now=now,
        )
        [stored] = (await orders_by_channel_id(session, "shop", ["SH1"])).values()
        report = StageReport(stored, "wms-1", Stage.PICKING, now + H)
        await apply_stage_events(session, policy, "wms", [report], now + H)
    async with sessions() as session:
        messages = await messages_after(session, 0)
        texts = await render_messages(session, policy, messages, now + H)
    said = {(m.ticket_id, m.kind): texts[m.id] for m in messages}

    alert = said[overdue.id, "alert"].splitlines()
    assert alert[0] == f"⏰ 订单超时 工单 #{overdue.id}"
    assert alert[2].startswith("状态: 已付款待拣货, 已超时 2小时") and "(截止 " in alert[2]
    assert said[payment, "alert"].splitlines()[0] == f"💰 付款差异 工单 #{payment}"
    assert said[payment, "alert"].splitlines()[2] == "情况: 实付比对账单多 10 元"
    assert said[stall, "alert"].splitlines()[:3:2] == [
        f"🚚 物流停滞 工单 #{stall}",
        "情况: 运单 3 天没有轨迹",
    ]
    assert said[overdue.id, "resolution"].endswith("已进入「仓库拣货中」(超时 2小时)")
    assert said[stall, "resolution"].endswith("已进入「仓库拣货中」")
    assert (payment, "resolution") not in said

    # In one digest (and its file), each ticket by its kind; the payment one, about no stage,
    # under the order's stage.
    alerts = [m for m in messages if m.kind == "alert"]
    async with sessions() as session:
        facts = list((await load_facts(session, policy, alerts)).values())
    assert summary(facts, now + H).splitlines()[0] == "⚠️ 工单 3 张: 超时 1, 付款差异 1, 物流停滞 1"
    spreadsheet = to_csv(facts, now + H, policy.timezone).decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(spreadsheet)))
    assert [line[3] for line in lines[1:]] == ["已付款待拣货", "仓库拣货中", "已付款待拣货"]
