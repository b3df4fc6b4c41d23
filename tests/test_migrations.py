"""The Alembic migrations build exactly the schema the models describe, and can be undone."""

from __future__ import annotations

import asyncio
from datetime import UTC, timedelta
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Date, column, select, table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnClause
from sqlalchemy.types import TypeEngine

from bot.app import create_app
from rules.kinds import order_subject, stage_episode
from services.config import parse_config
from storage import migrate
from storage.db import make_engine, make_sessionmaker
from storage.models import (
    Base,
    Order,
    OrderEvent,
    OrderWaybill,
    OutboxMessage,
    Parcel,
    Ticket,
    TicketEvent,
    UtcDateTime,
)
from storage.statements import lines_of
from tests.support import T0, auth, config_data, shop_order

HOUR = timedelta(hours=1)


def _differences(connection: Connection) -> list[Any]:
    # Types are left out: UtcDateTime is text on SQLite by design (see storage.models).
    context = MigrationContext.configure(connection, opts={"compare_type": False})
    return list(compare_metadata(context, Base.metadata))


async def test_migrations_match_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
    finally:
        await engine.dispose()


def test_every_migration_can_be_undone_and_redone(database_url: str) -> None:
    config = migrate.alembic_config(database_url)
    command.downgrade(config, "base")
    command.upgrade(config, "head")


async def test_orders_stored_before_the_details_revision_keep_working(
    database_url: str, aiohttp_client: Any
) -> None:
    """An order written by revision 0008 reads with empty details after the upgrade, and a
    record for it updates it like any other."""
    config = migrate.alembic_config(database_url)
    await asyncio.to_thread(command.downgrade, config, "0008")
    engine = make_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(Order.__table__.insert(), [_order_of_0008("SH-OLD")])
        await asyncio.to_thread(command.upgrade, config, "head")
        async with engine.connect() as connection:
            [old] = (await connection.execute(select(Order.__table__))).all()
        assert (old.categories, old.buyer_handles, old.ship_by_at) == ([], {}, None)

        app = create_app(parse_config(config_data(database_url)), watch_timer=False)
        client = await aiohttp_client(app)
        record = shop_order("SH-OLD", status="SHIPPED") | {"shipped_at": T0.isoformat()}
        response = await client.post("/api/v1/orders/shop", json=record, headers=auth("all"))
        assert (await response.json())["updated"] == 1
        async with engine.connect() as connection:
            [moved] = (await connection.execute(select(Order.__table__))).all()
        assert (moved.stage, moved.shipped_at) == ("shipped", T0)
    finally:
        await engine.dispose()


def _order_of_0008(order_no: str) -> dict[str, Any]:
    """An order row with only the columns revision 0008 has."""
    return {
        "channel": "shop",
        "channel_order_id": order_no,
        "order_type": "normal",
        "stage": "paid",
        "stage_entered_at": T0,
        "amount_fen": 100,
        "received_at": T0,
        "updated_at": T0,
        "raw": {},
    }


def _ticket_of_0009(order_id: int, stage: str, entered_at: Any) -> dict[str, Any]:
    """A ticket row with only the columns revision 0009 has."""
    return {
        "order_id": order_id,
        "stage": stage,
        "stage_entered_at": entered_at,
        "status": "open",
        "group_key": "general",
        "route_rule": "默认",
        "route_reason": "默认组",
        "sla_rule": "普通待拣货",
        "deadline_at": entered_at + 2 * HOUR,
        "opened_at": entered_at + 2 * HOUR,
        "level": 1,
    }


async def test_tickets_before_the_kinds_revision_keep_their_history_and_key(
    database_url: str,
) -> None:
    """Revision 0010 makes every ticket an overdue one keyed by (kind, subject, episode): its
    timeline and notices stay, the same stage entry still cannot get a second overdue ticket,
    and a ticket of another kind can sit beside it. An order that never moved gets its first
    stage as an event; one with events gets none."""
    config = migrate.alembic_config(database_url)
    await asyncio.to_thread(command.downgrade, config, "0009")
    engine = make_engine(database_url)
    entered = T0 + timedelta(microseconds=123456)
    try:
        async with engine.begin() as connection:
            orders = [
                _order_of_0008("SH-1") | {"stage_entered_at": entered},
                _order_of_0008("SH-2"),
            ]
            await connection.execute(Order.__table__.insert(), orders)
            ids = dict((await connection.execute(select(Order.channel_order_id, Order.id))).all())
            await connection.execute(
                OrderEvent.__table__.insert(),
                [
                    {
                        "order_id": ids["SH-2"],
                        "source": "wms",
                        "event_id": "e-1",
                        "stage": "paid",
                        "occurred_at": T0,
                        "received_at": T0,
                        "applied": True,
                    }
                ],
            )
            await connection.execute(
                Ticket.__table__.insert(), [_ticket_of_0009(ids["SH-1"], "paid", entered)]
            )
            ticket_id = await connection.scalar(select(Ticket.id))
            await connection.execute(
                TicketEvent.__table__.insert(),
                [{"ticket_id": ticket_id, "kind": "claimed", "actor": "wang", "at": T0 + 3 * HOUR}],
            )
            await connection.execute(
                OutboxMessage.__table__.insert(),
                [
                    {
                        "dedup_key": f"ticket:{ticket_id}:level:1",
                        "ticket_id": ticket_id,
                        "kind": "alert",
                        "level": 1,
                        "target_kind": "group",
                        "target": "general",
                        "created_at": T0 + 2 * HOUR,
                        "status": "sent",
                    }
                ],
            )
        await asyncio.to_thread(command.upgrade, config, "head")

        async with engine.connect() as connection:
            [ticket] = (await connection.execute(select(Ticket.__table__))).all()
            timeline = (await connection.execute(select(TicketEvent.ticket_id))).scalars().all()
            outbox = (await connection.execute(select(OutboxMessage.ticket_id))).scalars().all()
            events = (
                await connection.execute(
                    select(
                        OrderEvent.order_id,
                        OrderEvent.source,
                        OrderEvent.event_id,
                        OrderEvent.stage,
                        OrderEvent.occurred_at,
                    ).order_by(OrderEvent.id)
                )
            ).all()
        assert (ticket.id, ticket.kind, ticket.subject, ticket.episode) == (
            ticket_id,
            "overdue",
            order_subject(ids["SH-1"]),
            stage_episode("paid", entered),
        )
        assert (timeline, outbox) == ([ticket_id], [ticket_id])
        assert events == [
            (ids["SH-2"], "wms", "e-1", "paid", T0),
            (ids["SH-1"], "shop", f"SH-1:paid:{int(entered.timestamp())}", "paid", entered),
        ]

        again = _ticket_of_0009(ids["SH-1"], "paid", entered) | {
            "kind": "overdue",
            "subject": ticket.subject,
            "episode": ticket.episode,
        }
        with pytest.raises(IntegrityError):
            async with engine.begin() as connection:
                await connection.execute(Ticket.__table__.insert(), [again])
        stall = again | {"kind": "stall", "summary": "运单 3 天没有轨迹"}
        async with engine.begin() as connection:
            await connection.execute(Ticket.__table__.insert(), [stall])
            kinds = (await connection.execute(select(Ticket.kind).order_by(Ticket.id))).all()
        assert [k for (k,) in kinds] == ["overdue", "stall"]
    finally:
        await engine.dispose()


async def test_waybills_shipped_before_the_parcels_revision_are_followed(
    database_url: str,
) -> None:
    """Revision 0011 follows the waybills of orders already shipped (not of those still in the
    warehouse): each a parcel waiting to be subscribed, its carrier read from the channel's
    words, checked for a stall a day after it shipped."""
    config = migrate.alembic_config(database_url)
    await asyncio.to_thread(command.downgrade, config, "0010")
    engine = make_engine(database_url)
    try:
        async with engine.begin() as connection:
            orders = [
                _order_of_0008("SH-SHIPPED") | {"stage": "shipped", "province": "上海市"},
                _order_of_0008("SH-PAID") | {"province": None},
            ]
            await connection.execute(Order.__table__.insert(), orders)
            ids = dict((await connection.execute(select(Order.channel_order_id, Order.id))).all())
            await connection.execute(
                OrderWaybill.__table__.insert(),
                [
                    {
                        "order_id": ids["SH-SHIPPED"],
                        "tracking_no": "YT1",
                        "carrier": "圆通速递",
                        "shipped_at": T0,
                    },
                    {
                        "order_id": ids["SH-PAID"],
                        "tracking_no": "YT2",
                        "carrier": "圆通速递",
                        "shipped_at": None,
                    },
                ],
            )
        await asyncio.to_thread(command.upgrade, config, "head")
        async with engine.connect() as connection:
            [parcel] = (await connection.execute(select(Parcel.__table__))).all()
        assert (parcel.order_id, parcel.tracking_no, parcel.carrier, parcel.carrier_text) == (
            ids["SH-SHIPPED"],
            "YT1",
            "YTO",
            "圆通速递",
        )
        assert (parcel.subscription, parcel.destination_province) == ("pending", "上海市")
        assert parcel.stall_check_at == T0 + 24 * HOUR
    finally:
        await engine.dispose()


def _lines_of_0019(statement_id: int) -> list[dict[str, Any]]:
    """Two rows of statement_lines as revision 0019 kept them: a payment with an empty
    merchant_order_no (empty, not null) and a refund."""
    day = T0.date()
    common = {"statement_id": statement_id, "gateway": "wechat", "bill_date": day}
    common |= {"merchant_id": "1900000109", "order_fen": 9900, "coupon_fen": 0}
    return [
        common
        | {"line_no": 2, "trade_at": T0, "merchant_order_no": "", "kind": "payment"}
        | {"gateway_trade_no": "4200001", "status": "SUCCESS", "amount_fen": 9900}
        | {"refund_fen": 0, "refund_no": None, "gateway_refund_no": None}
        | {"fee_milli": 59400, "fee_fen": 59, "attach": "SH1"},
        common
        | {"line_no": 3, "trade_at": T0 + HOUR, "merchant_order_no": "SH1", "kind": "refund"}
        | {"gateway_trade_no": "4200001", "status": "SUCCESS", "amount_fen": -1000}
        | {"refund_fen": 1000, "refund_no": "RF1", "gateway_refund_no": "5030001"}
        | {"fee_milli": -6000, "fee_fen": -6, "attach": None},
    ]


async def test_statement_lines_move_into_their_statements_file_and_back(
    database_url: str,
) -> None:
    """Revision 0020 packs the lines stored as rows into their statement's Parquet file, in
    the file's order, values as they were; undone, they are rows again."""
    config = migrate.alembic_config(database_url)
    await asyncio.to_thread(command.downgrade, config, "0019")
    statements = table("statements", *map(_typed, [*_STATEMENT_OF_0019, "id"]))
    lines = table("statement_lines", *map(_typed, [*_lines_of_0019(0)[0], "id"]))
    engine = make_engine(database_url)
    try:
        async with engine.begin() as connection:
            statement_id = (
                await connection.execute(
                    statements.insert().values(_STATEMENT_OF_0019).returning(statements.c.id)
                )
            ).scalar_one()
            await connection.execute(lines.insert(), _lines_of_0019(statement_id))
        await asyncio.to_thread(command.upgrade, config, "head")
        async with make_sessionmaker(engine)() as session:
            packed = (await lines_of(session, statement_id)).to_dicts()
        assert packed == [
            {n: v for n, v in row.items() if n != "statement_id"}
            | {"trade_at": row["trade_at"].astimezone(UTC)}
            for row in _lines_of_0019(statement_id)
        ]
        await asyncio.to_thread(command.downgrade, config, "0019")
        async with engine.connect() as connection:
            rows = (await connection.execute(select(lines).order_by(lines.c.id))).all()
        assert [(r.line_no, r.merchant_order_no, r.refund_no, r.fee_milli) for r in rows] == [
            (2, "", None, 59400),
            (3, "SH1", "RF1", -6000),
        ]
    finally:
        await engine.dispose()
        await asyncio.to_thread(command.upgrade, config, "head")


def _typed(name: str) -> ColumnClause[Any]:
    """A column of revision 0019's statements or statement_lines, typed where it matters."""
    kinds: dict[str, TypeEngine[Any]] = {
        "bill_date": Date(),
        "trade_at": UtcDateTime(),
        "imported_at": UtcDateTime(),
    }
    return column(name, kinds.get(name))


_STATEMENT_OF_0019 = {
    "gateway": "wechat",
    "kind": "trade",
    "layout": "ALL",
    "bill_date": T0.date(),
    "merchant_id": "1900000109",
    "file_name": "tradebill.csv",
    "digest": "0" * 64,
    "line_count": 2,
    "payment_count": 1,
    "refund_count": 1,
    "payment_fen": 9900,
    "refund_fen": 1000,
    "fee_milli": 53400,
    "imported_at": T0,
}
