"""Tickets with the order facts their notices and lists show (reads only)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Order, Ticket


class TicketWithOrder(NamedTuple):
    """A ticket and what its alerts, reminders and closing notices say of its order."""

    id: int
    order_id: int
    kind: str
    summary: str | None
    stage: str | None  # the stage entry the ticket is about (None: about no stage)
    stage_entered_at: datetime | None
    group_key: str
    route_rule: str
    route_reason: str
    deadline_at: datetime
    level: int
    owner: str | None
    resolved_at: datetime | None
    channel: str
    channel_order_id: str
    order_type: str
    order_stage: str  # the stage the order is in now
    amount_fen: int
    province: str | None
    city: str | None
    district: str | None
    ship_by_at: datetime | None
    hold_reason: str | None
    buyer_message: str | None
    seller_memo: str | None


_COLUMNS = (
    Ticket.id,
    Ticket.order_id,
    Ticket.kind,
    Ticket.summary,
    Ticket.stage,
    Ticket.stage_entered_at,
    Ticket.group_key,
    Ticket.route_rule,
    Ticket.route_reason,
    Ticket.deadline_at,
    Ticket.level,
    Ticket.owner,
    Ticket.resolved_at,
    Order.channel,
    Order.channel_order_id,
    Order.order_type,
    Order.stage.label("order_stage"),
    Order.amount_fen,
    Order.province,
    Order.city,
    Order.district,
    Order.ship_by_at,
    Order.hold_reason,
    Order.buyer_message,
    Order.seller_memo,
)


async def tickets_with_orders(
    session: AsyncSession, ticket_ids: Iterable[int]
) -> dict[int, TicketWithOrder]:
    """Each ticket with the order facts its notifications show, by ticket id."""
    ids = list(set(ticket_ids))
    if not ids:
        return {}
    query = select(*_COLUMNS).join(Order, Order.id == Ticket.order_id).where(Ticket.id.in_(ids))
    return {row.id: TicketWithOrder._make(row) for row in await session.execute(query)}


async def open_ticket_ages(
    session: AsyncSession, opened_after: Sequence[datetime]
) -> dict[str, list[int]]:
    """Open tickets per group, counted by age: ``opened_after`` are the buckets' lower edges,
    newest first (e.g. now-1h, now-4h, …); a group's list has one count per edge and one for
    the tickets older than the last."""
    edges = list(opened_after)
    columns = []
    for i, low in enumerate(edges):
        newer = Ticket.opened_at >= low
        if i > 0:
            newer = and_(newer, Ticket.opened_at < edges[i - 1])
        columns.append(func.sum(case((newer, 1), else_=0)))
    columns.append(func.sum(case((Ticket.opened_at < edges[-1], 1), else_=0)))
    rows = await session.execute(
        select(Ticket.group_key, *columns).where(Ticket.status == "open").group_by(Ticket.group_key)
    )
    return {row[0]: [int(n or 0) for n in row[1:]] for row in rows}
