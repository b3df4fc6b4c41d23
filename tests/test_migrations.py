"""The Alembic migrations build exactly the schema the models describe, and can be undone."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, select

from bot.app import create_app
from services.config import parse_config
from storage import migrate
from storage.db import make_engine
from storage.models import Base, Order
from tests.support import T0, auth, config_data, shop_order


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
