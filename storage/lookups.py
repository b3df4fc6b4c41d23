"""Read queries behind the chat commands: orders and tickets as people name them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, func, null, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import Order, Ticket, TicketEvent

LookupRow = Row[tuple[Order, Ticket | None, TicketEvent | None]]
_OTHER_TICKET = aliased(Ticket)  # built once: an alias proxies every column anew


def _newest_ticket(query: Select[Any], *, open_only: bool) -> Select[Any]:
    """Join each order's newest ticket (or newest open one), None where it has none."""
    newest = select(func.max(_OTHER_TICKET.id)).where(_OTHER_TICKET.order_id == Order.id)
    if open_only:
        newest = newest.where(_OTHER_TICKET.status == "open")
    return query.outerjoin(Ticket, Ticket.id == newest.scalar_subquery())


def _timeline(query: Select[Any], timeline: bool) -> Select[Any]:
    """One row per timeline event of the ticket (in order), or one row without events."""
    if not timeline:
        return query.add_columns(null())
    return (
        query.add_columns(TicketEvent)
        .outerjoin(TicketEvent, TicketEvent.ticket_id == Ticket.id)
        .order_by(TicketEvent.at, TicketEvent.id)
    )


async def by_order_number(
    session: AsyncSession,
    order_no: str,
    channel: str | None,
    *,
    open_only: bool,
    timeline: bool = False,
) -> Sequence[LookupRow]:
    """Orders with this channel order id (in one channel, or in any: then maybe several),
    each with its newest (open) ticket and, if asked, that ticket's timeline: one statement,
    because on SQLite every statement costs a few thread hand-offs."""
    query = _newest_ticket(select(Order, Ticket).select_from(Order), open_only=open_only)
    query = query.where(Order.channel_order_id == order_no)
    if channel is not None:
        query = query.where(Order.channel == channel)
    return (await session.execute(_timeline(query.order_by(Order.channel), timeline))).all()


async def by_ticket(
    session: AsyncSession, ticket_id: int, *, timeline: bool = False
) -> Sequence[LookupRow]:
    """The ticket with its order and, if asked, its timeline; empty when there is no such
    ticket."""
    query = select(Order, Ticket).select_from(Order).join(Ticket, Ticket.order_id == Order.id)
    return (await session.execute(_timeline(query.where(Ticket.id == ticket_id), timeline))).all()


async def orders_by_phone(
    session: AsyncSession, phone: str, since: datetime, limit: int
) -> Sequence[Row[tuple[Order, Ticket | None]]]:
    """The customer's orders received since ``since``, newest first, each with its newest open
    ticket."""
    query = (
        _newest_ticket(select(Order, Ticket).select_from(Order), open_only=True)
        .where(Order.receiver_phone == phone, Order.received_at >= since)
        .order_by(Order.received_at.desc(), Order.id.desc())
        .limit(limit)
    )
    return (await session.execute(query)).all()


async def open_tickets_of_owner(session: AsyncSession, user: str) -> Sequence[int]:
    """Ids of the user's open tickets, the most overdue first."""
    query = (
        select(Ticket.id)
        .where(Ticket.owner == user, Ticket.status == "open")
        .order_by(Ticket.deadline_at, Ticket.id)
    )
    return (await session.scalars(query)).all()


async def open_tickets_of_groups(
    session: AsyncSession, group_keys: Sequence[str], limit: int
) -> tuple[Sequence[int], int]:
    """Ids of the groups' open tickets, the most overdue first (at most ``limit``), and how
    many are open in all."""
    where = (Ticket.status == "open", Ticket.group_key.in_(group_keys))
    ids = await session.scalars(
        select(Ticket.id).where(*where).order_by(Ticket.deadline_at, Ticket.id).limit(limit)
    )
    total = await session.scalar(select(func.count()).select_from(Ticket).where(*where))
    return ids.all(), total or 0
