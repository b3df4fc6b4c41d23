"""Ticket queries and the timeline and outbox writes that go with every ticket change."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rules.kinds import Kind
from storage.conflicts import insert_ignoring_duplicates
from storage.models import Order, OutboxMessage, Ticket, TicketEvent

TICKETS = Ticket.__table__


async def open_tickets_for(
    session: AsyncSession, order_ids: Iterable[int], kinds: Sequence[str]
) -> Sequence[Row[Any]]:
    """The open tickets of these kinds about these orders."""
    ids = list(order_ids)
    if not ids:
        return []
    query = select(TICKETS).where(
        TICKETS.c.order_id.in_(ids), TICKETS.c.status == "open", TICKETS.c.kind.in_(kinds)
    )
    return (await session.execute(query)).all()


async def insert_tickets(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Insert tickets, setting each inserted row's ``id``; a ticket that exists already with the
    same key (kind, subject, episode) is left as it is. Returns how many were inserted."""
    if not rows:
        return 0
    columns = TICKETS.c
    statement = insert_ignoring_duplicates(session, Ticket).returning(
        columns.id, columns.kind, columns.subject, columns.episode
    )
    ids = {(k, s, e): ticket_id for ticket_id, k, s, e in await session.execute(statement, rows)}
    for row in rows:
        key = (row["kind"], row["subject"], row["episode"])
        if key in ids:
            row["id"] = ids[key]
    return len(ids)


async def set_levels(session: AsyncSession, changes: list[tuple[int, int]]) -> None:
    if not changes:
        return
    statement = (
        update(TICKETS).where(TICKETS.c.id == bindparam("ticket_id")).values(level=bindparam("lvl"))
    )
    await session.execute(statement, [{"ticket_id": t, "lvl": level} for t, level in changes])


async def set_reminded(session: AsyncSession, changes: list[tuple[int, datetime]]) -> None:
    if not changes:
        return
    statement = (
        update(TICKETS)
        .where(TICKETS.c.id == bindparam("ticket_id"))
        .values(reminded_at=bindparam("at"))
    )
    await session.execute(statement, [{"ticket_id": t, "at": at} for t, at in changes])


async def resolve(session: AsyncSession, closed: list[tuple[int, datetime]], how: str) -> None:
    """Close tickets, each at its own moment (for auto-resolution: when the order moved on)."""
    if closed:
        statement = (
            update(TICKETS)
            .where(TICKETS.c.id == bindparam("ticket_id"))
            .values(status="resolved", resolved_at=bindparam("at"), resolution=how)
        )
        await session.execute(statement, [{"ticket_id": t, "at": at} for t, at in closed])


def timeline_row(
    ticket_id: int, kind: str, at: datetime, detail: str | None = None, actor: str | None = None
) -> dict[str, Any]:
    return {"ticket_id": ticket_id, "kind": kind, "at": at, "detail": detail, "actor": actor}


async def add_timeline(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(TicketEvent.__table__.insert(), rows)


async def queue_messages(session: AsyncSession, messages: Sequence[dict[str, Any]]) -> None:
    """Add outbox rows; a dedup_key already present means the message exists and is kept as is."""
    if messages:
        await session.execute(insert_ignoring_duplicates(session, OutboxMessage), list(messages))


def outbox_row(
    *,
    ticket_id: int,
    kind: str,
    level: int | None,
    target_kind: str,
    target: str,
    now: datetime,
) -> dict[str, Any]:
    """A notification about a ticket; its key makes re-queueing the same one a no-op."""
    return {
        "dedup_key": f"ticket:{ticket_id}:{kind if level is None else f'level:{level}'}",
        "ticket_id": ticket_id,
        "kind": kind,
        "level": level,
        "target_kind": target_kind,
        "target": target,
        "created_at": now,
        "status": "pending",
    }


def notice_row(
    dedup_key: str,
    kind: str,
    target: tuple[str, str],
    text: str,
    now: datetime,
    *,
    ticket_id: int | None = None,
    image: bytes | None = None,
) -> dict[str, Any]:
    """A notification with its own text (claims, hand-overs, ops notices, reports), for
    ``("group", key)`` or ``("user", userid)``; the key makes re-queueing it a no-op."""
    return {
        "dedup_key": dedup_key,
        "ticket_id": ticket_id,
        "kind": kind,
        "level": None,
        "target_kind": target[0],
        "target": target[1],
        "created_at": now,
        "status": "pending",
        "detail": text,
        "image": image,
    }


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


async def resolve_manually(session: AsyncSession, ticket: Ticket, now: datetime) -> bool:
    """Close an open ticket by hand; False when it was closed meanwhile.

    If it is an overdue ticket and the order is still in its stage entry, the order's pending
    checks are dropped too: that stage entry is settled, so the watch need not wake for it (it
    would only find the ticket closed). The order's next stage schedules checks afresh.
    """
    closed = await session.execute(
        update(Ticket)
        .where(Ticket.id == ticket.id, Ticket.status == "open")
        .values(status="resolved", resolved_at=now, resolution="manual")
        .execution_options(synchronize_session=False)
    )
    if closed.rowcount != 1:
        return False
    if ticket.kind != Kind.OVERDUE:
        return True
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
