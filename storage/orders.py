"""Order queries. Bulk statements throughout: a batch is a handful of round trips, not one per row
(the ORM's unit of work inserts row by row on SQLite when it must read back generated keys)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, NotRequired, TypedDict, cast

from sqlalchemy import bindparam, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from storage.bulk import insert_rows, select_rows, update_by_id, update_columns
from storage.models import Order

ORDERS = Order.__table__


class OrderRow(TypedDict):
    """An order's columns as ingest and the lifecycle handle them: a record's facts, then its
    stage entry and schedule (set by services.lifecycle), then the id once stored."""

    id: NotRequired[int]
    channel: NotRequired[str]
    channel_order_id: str
    stage: str
    stage_entered_at: datetime
    shop: str | None
    order_type: str
    amount_fen: int
    category: str | None
    province: str | None
    city: str | None
    district: str | None
    address_text: str | None
    address_source: str | None
    receiver_phone: str | None
    created_at: datetime | None
    paid_at: datetime | None
    raw: dict[str, Any]
    ship_by_at: datetime | None
    shipped_at: datetime | None
    hold_reason: str | None
    buyer_message: str | None
    seller_memo: str | None
    receiver_phone_masked: str | None
    buyer_handles: dict[str, str]
    categories: list[str]
    received_at: NotRequired[datetime]
    updated_at: NotRequired[datetime]
    deadline_at: NotRequired[datetime | None]
    next_check_at: NotRequired[datetime | None]


class DueOrder(NamedTuple):
    """What the watch needs to route, schedule and describe an order; not the raw payload."""

    id: int
    channel: str
    channel_order_id: str
    order_type: str
    stage: str
    stage_entered_at: datetime
    amount_fen: int
    category: str | None
    province: str | None
    city: str | None
    district: str | None
    categories: list[str]
    ship_by_at: datetime | None


async def orders_by_channel_id(
    session: AsyncSession, channel: str, ids: Sequence[str]
) -> dict[str, OrderRow]:
    """Existing orders of one channel, as column dicts keyed by channel order id."""
    if not ids:
        return {}
    query = select(ORDERS).where(ORDERS.c.channel == channel, ORDERS.c.channel_order_id.in_(ids))
    return {
        row.channel_order_id: cast(OrderRow, dict(row._mapping))
        for row in await session.execute(query)
    }


async def orders_by_keys(
    session: AsyncSession, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], OrderRow]:
    """Existing orders by (channel, channel order id), as column dicts."""
    if not keys:
        return {}
    query = select(ORDERS).where(tuple_(ORDERS.c.channel, ORDERS.c.channel_order_id).in_(keys))
    return {
        (r.channel, r.channel_order_id): cast(OrderRow, dict(r._mapping))
        for r in await session.execute(query)
    }


async def insert_orders(session: AsyncSession, rows: list[OrderRow]) -> None:
    """Insert new orders, setting each row's ``id`` (their details are stored by it)."""
    if not rows:
        return
    # Matched by key rather than returned in parameter order, which SQLite would pay for with
    # a statement per row.
    returned = await insert_rows(session, Order, rows, ("id", "channel", "channel_order_id"))
    ids = {(channel, number): i for i, channel, number in returned}
    for row in rows:
        row["id"] = ids[row["channel"], row["channel_order_id"]]


async def update_orders(session: AsyncSession, rows: list[OrderRow]) -> None:
    """Write back whole rows of changed orders, matched by ``id``."""
    await update_columns(session, Order, _COLUMNS, rows)


_COLUMNS = [c.name for c in ORDERS.columns if c.name != "id"]


# Built once: the watch runs it for every batch (storage.bulk.select_rows).
_DUE = (
    select(*(ORDERS.c[name] for name in DueOrder._fields))
    .where(ORDERS.c.next_check_at <= bindparam("now"))
    .order_by(ORDERS.c.next_check_at)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)


async def claim_due_orders(session: AsyncSession, now: datetime, limit: int) -> list[DueOrder]:
    """Orders whose next check is due, oldest first, locked against other instances.

    On PostgreSQL ``SKIP LOCKED`` lets each instance take a different slice; SQLite has no row
    locks, but its transactions take the write lock up front (see storage.db).
    """
    rows = await select_rows(session, _DUE, {"now": now, "limit": limit})
    return list(map(DueOrder._make, rows))


async def set_next_checks(
    session: AsyncSession, changes: list[tuple[int, datetime | None]]
) -> None:
    await update_by_id(session, Order, "next_check_at", changes)
