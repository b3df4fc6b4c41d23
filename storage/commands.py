"""Queries behind the chat commands. Nothing here commits: the handler owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Order, Ticket, TicketEvent


async def orders_by_number(
    session: AsyncSession, order_no: str, channel: str | None = None
) -> Sequence[Order]:
    """Orders with this channel order id, in one channel or in any (then maybe several)."""
    query = select(Order).where(Order.channel_order_id == order_no)
    if channel is not None:
        query = query.where(Order.channel == channel)
    return (await session.scalars(query.order_by(Order.channel))).all()


async def get_order(session: AsyncSession, order_id: int) -> Order | None:
    return await session.get(Order, order_id)


async def get_ticket(session: AsyncSession, ticket_id: int) -> Ticket | None:
    return await session.get(Ticket, ticket_id)


async def latest_ticket(
    session: AsyncSession, order_id: int, *, open_only: bool = False
) -> Ticket | None:
    """The order's newest ticket (or newest open one)."""
    query = select(Ticket).where(Ticket.order_id == order_id)
    if open_only:
        query = query.where(Ticket.status == "open")
    return (await session.scalars(query.order_by(Ticket.id.desc()).limit(1))).first()


async def ticket_timeline(session: AsyncSession, ticket_id: int) -> Sequence[TicketEvent]:
    query = (
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket_id)
        .order_by(TicketEvent.at, TicketEvent.id)
    )
    return (await session.scalars(query)).all()


async def claim_ticket(session: AsyncSession, ticket_id: int, user: str, now: datetime) -> bool:
    """Make ``user`` the owner of an open, unclaimed ticket; False when it is not (any more)."""
    statement = (
        update(Ticket)
        .where(Ticket.id == ticket_id, Ticket.status == "open", Ticket.owner.is_(None))
        .values(owner=user, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(statement)).rowcount == 1


async def resolve_manually(session: AsyncSession, ticket: Ticket, now: datetime) -> bool:
    """Close an open ticket by hand; False when it was closed meanwhile.

    If the order is still in the ticket's stage entry, its pending checks are dropped too: that
    stage entry is settled, so the watch need not wake for it (it would only find the ticket
    closed). The order's next stage schedules checks afresh.
    """
    closed = await session.execute(
        update(Ticket)
        .where(Ticket.id == ticket.id, Ticket.status == "open")
        .values(status="resolved", resolved_at=now, resolution="manual")
        .execution_options(synchronize_session=False)
    )
    if closed.rowcount != 1:
        return False
    await session.execute(
        update(Order)
        .where(
            Order.id == ticket.order_id,
            Order.stage == ticket.stage,
            Order.stage_entered_at == ticket.stage_entered_at,
        )
        .values(next_check_at=None)
        .execution_options(synchronize_session=False)
    )
    return True
