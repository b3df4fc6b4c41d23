"""The hot paths' bulk writes and reads (storage.bulk: prepared rows straight to the SQLite
driver, Core on PostgreSQL) store and read what the column types would: UTC times from any zone,
the unique keys still skipping duplicates (or failing a plain insert as SQLAlchemy's error), and
JSON read back as written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import make_engine, make_sessionmaker
from storage.models import Order, OutboxMessage, Ticket
from storage.orders import (
    OrderRow,
    claim_due_orders,
    insert_orders,
    set_next_checks,
    update_orders,
)
from storage.outbox import queue_messages
from storage.tickets import TicketRow, insert_tickets, outbox_row, set_levels, set_reminded

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOON = datetime(2026, 3, 2, 12, 0, 0, 123456, tzinfo=SHANGHAI)  # 04:00:00.123456 UTC


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def add_orders(sessions: async_sessionmaker[AsyncSession], count: int, **extra: Any) -> None:
    rows = [
        {
            "channel": "shop",
            "channel_order_id": f"B{n}",
            "order_type": "normal",
            "stage": "paid",
            "stage_entered_at": NOON,
            "amount_fen": 100,
            "received_at": NOON,
            "updated_at": NOON,
            "raw": {},
        }
        | extra
        for n in range(count)
    ]
    async with sessions.begin() as session:
        await session.execute(insert(Order.__table__), rows)


def ticket(order_id: int) -> TicketRow:
    return {
        "kind": "overdue",
        "subject": f"order:{order_id}",
        "episode": "paid@2026-03-02 04:00:00.123456",
        "order_id": order_id,
        "stage": "paid",
        "stage_entered_at": NOON,
        "status": "open",
        "group_key": "east",
        "route_rule": "华东",
        "route_reason": "省份=上海市",
        "sla_rule": "待拣货",
        "deadline_at": NOON + timedelta(hours=2),
        "opened_at": NOON + timedelta(hours=3),
        "level": 1,
    }


async def test_tickets_are_stored_in_utc_once_per_key(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_orders(sessions, 3)
    async with sessions.begin() as session:
        first = [ticket(1), ticket(2)]
        assert await insert_tickets(session, first) == 2
    async with sessions.begin() as session:
        again = [ticket(2), ticket(3)]
        assert await insert_tickets(session, again) == 1  # order 2's ticket exists already
        stored = (await session.scalars(select(Ticket).order_by(Ticket.id))).all()

    assert "id" not in again[0]
    assert [t.id for t in stored] == [first[0]["id"], first[1]["id"], again[1]["id"]]
    assert [t.order_id for t in stored] == [1, 2, 3]
    assert stored[0].stage_entered_at == datetime(2026, 3, 2, 4, 0, 0, 123456, tzinfo=UTC)
    assert stored[0].opened_at == datetime(2026, 3, 2, 7, 0, 0, 123456, tzinfo=UTC)
    assert (stored[2].route_reason, stored[2].level, stored[2].owner) == ("省份=上海市", 1, None)


async def test_a_queued_message_exists_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    await add_orders(sessions, 1)
    async with sessions.begin() as session:
        await insert_tickets(session, [ticket(1)])
        alert = outbox_row(
            ticket_id=1, kind="alert", level=1, target_kind="group", target="east", now=NOON
        )
        await queue_messages(session, [alert])
        await queue_messages(session, [alert | {"target": "other"}])
        stored = (await session.scalars(select(OutboxMessage))).all()

    assert [(m.dedup_key, m.target, m.created_at, m.detail) for m in stored] == [
        ("ticket:1:level:1", "east", NOON.astimezone(UTC), None)
    ]


async def test_each_row_gets_its_own_value(sessions: async_sessionmaker[AsyncSession]) -> None:
    await add_orders(sessions, 3, next_check_at=NOON)
    async with sessions.begin() as session:
        await insert_tickets(session, [ticket(1), ticket(2)])
        await set_next_checks(session, [(1, NOON + timedelta(minutes=5)), (3, None)])
        await set_levels(session, [(2, 3)])
        await set_reminded(session, [(1, NOON)])
        checks = (await session.execute(select(Order.id, Order.next_check_at))).all()
        tickets = (await session.execute(select(Ticket.level, Ticket.reminded_at))).all()

    assert sorted(checks) == [(1, NOON + timedelta(minutes=5)), (2, NOON), (3, None)]
    assert sorted(tickets, key=lambda t: t.level) == [(1, NOON), (3, None)]


async def test_json_reads_back_as_written(sessions: async_sessionmaker[AsyncSession]) -> None:
    raw = {"big": 2**70, "order_no": "1234567890123456789012", "title": "连衣裙", "n": 1.5}
    await add_orders(sessions, 1, raw=raw, categories=["c1", "c2"])
    async with sessions.begin() as session:
        stored = (await session.execute(select(Order.raw, Order.categories))).one()

    assert stored == (raw, ["c1", "c2"])
    assert isinstance(stored.raw["big"], int)


def order_row(number: str, **extra: Any) -> OrderRow:
    row: dict[str, Any] = {
        "channel": "shop",
        "channel_order_id": number,
        "stage": "paid",
        "stage_entered_at": NOON,
        "shop": None,
        "order_type": "normal",
        "amount_fen": 100,
        "category": None,
        "province": "上海市",
        "city": None,
        "district": None,
        "address_text": None,
        "address_source": "channel",
        "receiver_phone": None,
        "created_at": None,
        "paid_at": NOON,
        "raw": {"order_no": number, "big": 2**70},
        "ship_by_at": None,
        "shipped_at": None,
        "hold_reason": None,
        "buyer_message": None,
        "seller_memo": None,
        "receiver_phone_masked": None,
        "buyer_handles": {"taobao": "买家"},
        "categories": ["c1"],
        "received_at": NOON,
        "updated_at": NOON,
        "deadline_at": NOON,
        "next_check_at": NOON,
    }
    return cast(OrderRow, row | extra)


async def test_orders_round_trip_through_the_bulk_paths(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    rows = [order_row("A1"), order_row("A2", categories=[], ship_by_at=NOON + timedelta(days=1))]
    async with sessions.begin() as session:
        await insert_orders(session, rows)
    async with sessions.begin() as session:
        due = await claim_due_orders(session, NOON, 10)
        rows[0]["categories"] = ["c2", "c3"]
        rows[0]["next_check_at"] = None
        rows[1]["raw"] = {"changed": True}
        await update_orders(session, rows)
    async with sessions.begin() as session:
        columns = (Order.categories, Order.next_check_at, Order.raw, Order.buyer_handles)
        stored = (await session.execute(select(*columns).order_by(Order.id))).all()

    assert [o.id for o in due] == [rows[0]["id"], rows[1]["id"]]
    assert (due[0].stage_entered_at, due[0].categories, due[0].ship_by_at) == (NOON, ["c1"], None)
    assert (due[1].categories, due[1].ship_by_at) == ([], NOON + timedelta(days=1))
    assert due[0].stage_entered_at.tzinfo is UTC
    assert [(o.categories, o.next_check_at) for o in stored] == [(["c2", "c3"], None), ([], NOON)]
    assert stored[0].raw == {"order_no": "A1", "big": 2**70}
    assert (stored[1].raw, stored[1].buyer_handles) == ({"changed": True}, {"taobao": "买家"})


async def test_an_order_stored_twice_fails_the_insert_as_sqlalchemy_error(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        await insert_orders(session, [order_row("D1")])
    with pytest.raises(IntegrityError):  # what ingest retries its batch on
        async with sessions.begin() as session:
            await insert_orders(session, [order_row("D2"), order_row("D1")])
    async with sessions.begin() as session:
        numbers = (await session.scalars(select(Order.channel_order_id))).all()

    assert numbers == ["D1"]
