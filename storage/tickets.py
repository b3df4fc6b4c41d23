"""Ticket queries and the timeline and outbox writes that go with every ticket change."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.conflicts import insert_ignoring_duplicates
from storage.models import OutboxMessage, Ticket, TicketEvent

TICKETS = Ticket.__table__


async def open_tickets_for(session: AsyncSession, order_ids: Iterable[int]) -> Sequence[Row[Any]]:
    ids = list(order_ids)
    if not ids:
        return []
    query = select(TICKETS).where(TICKETS.c.order_id.in_(ids), TICKETS.c.status == "open")
    return (await session.execute(query)).all()


async def insert_tickets(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Insert tickets, setting each inserted row's ``id``; a ticket that exists already for the
    same stage entry is left as it is. Returns how many were inserted."""
    if not rows:
        return 0
    statement = insert_ignoring_duplicates(session, Ticket).returning(
        TICKETS.c.id, TICKETS.c.order_id
    )
    ids = {order_id: ticket_id for ticket_id, order_id in await session.execute(statement, rows)}
    for row in rows:
        if row["order_id"] in ids:
            row["id"] = ids[row["order_id"]]
    return len(ids)


async def set_levels(session: AsyncSession, changes: list[tuple[int, int]]) -> None:
    if not changes:
        return
    statement = (
        update(TICKETS).where(TICKETS.c.id == bindparam("ticket_id")).values(level=bindparam("lvl"))
    )
    await session.execute(statement, [{"ticket_id": t, "lvl": level} for t, level in changes])


async def resolve(session: AsyncSession, ticket_ids: list[int], now: datetime, how: str) -> None:
    if ticket_ids:
        await session.execute(
            update(TICKETS)
            .where(TICKETS.c.id.in_(ticket_ids))
            .values(status="resolved", resolved_at=now, resolution=how)
        )


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
    dedup_key: str,
    ticket_id: int | None,
    kind: str,
    target_kind: str,
    target: str,
    payload: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    return {
        "dedup_key": dedup_key,
        "ticket_id": ticket_id,
        "kind": kind,
        "target_kind": target_kind,
        "target": target,
        "payload": payload,
        "created_at": now,
        "status": "pending",
    }
