"""Tickets with the order facts their notices and lists show (reads only)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Order, Ticket

TICKETS = Ticket.__table__


async def tickets_with_orders(
    session: AsyncSession, ticket_ids: Iterable[int]
) -> dict[int, Row[Any]]:
    """Each ticket with the order facts its notifications show, by ticket id."""
    ids = list(set(ticket_ids))
    if not ids:
        return {}
    orders = Order.__table__
    query = (
        select(
            TICKETS,
            orders.c.channel,
            orders.c.channel_order_id,
            orders.c.order_type,
            orders.c.stage.label("order_stage"),
            orders.c.amount_fen,
            orders.c.province,
            orders.c.city,
            orders.c.district,
            orders.c.ship_by_at,
            orders.c.hold_reason,
            orders.c.buyer_message,
            orders.c.seller_memo,
        )
        .join(orders, orders.c.id == TICKETS.c.order_id)
        .where(TICKETS.c.id.in_(ids))
    )
    return {row.id: row for row in await session.execute(query)}
