"""Queries behind the chat commands. Nothing here commits: the handler owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_, select, update
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


async def assign_ticket(session: AsyncSession, ticket_id: int, user: str, now: datetime) -> bool:
    """Make ``user`` the owner of an open ticket, claimed or not; False when it closed."""
    statement = (
        update(Ticket)
        .where(Ticket.id == ticket_id, Ticket.status == "open")
        .values(owner=user, claimed_at=func.coalesce(Ticket.claimed_at, now))
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(statement)).rowcount == 1


async def move_ticket(session: AsyncSession, ticket_id: int, group_key: str) -> bool:
    """Hand an open ticket to another group, unclaimed; False when it closed."""
    statement = (
        update(Ticket)
        .where(Ticket.id == ticket_id, Ticket.status == "open")
        .values(group_key=group_key, owner=None, claimed_at=None)
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(statement)).rowcount == 1


async def snooze_ticket(session: AsyncSession, ticket_id: int, until: datetime | None) -> bool:
    """Hold the ticket's reminders until ``until`` (None: remind again as usual)."""
    statement = (
        update(Ticket)
        .where(Ticket.id == ticket_id, Ticket.status == "open")
        .values(snoozed_until=until)
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(statement)).rowcount == 1


async def wake_order(session: AsyncSession, order_id: int, at: datetime) -> None:
    """Have the watch look at the order by ``at`` (sooner if it was due sooner anyway)."""
    await session.execute(
        update(Order)
        .where(Order.id == order_id)
        .where(or_(Order.next_check_at.is_(None), Order.next_check_at > at))
        .values(next_check_at=at)
        .execution_options(synchronize_session=False)
    )


async def orders_by_phone(
    session: AsyncSession, phone: str, since: datetime, limit: int
) -> Sequence[Order]:
    """The customer's orders received since ``since``, newest first."""
    query = (
        select(Order)
        .where(Order.receiver_phone == phone, Order.received_at >= since)
        .order_by(Order.received_at.desc(), Order.id.desc())
        .limit(limit)
    )
    return (await session.scalars(query)).all()


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


async def tickets_opened_between(
    session: AsyncSession, group_keys: Sequence[str], start: datetime, end: datetime
) -> Sequence[Ticket]:
    query = select(Ticket).where(
        Ticket.group_key.in_(group_keys), Ticket.opened_at >= start, Ticket.opened_at < end
    )
    return (await session.scalars(query)).all()


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
