"""Ticket queries and the timeline/outbox writes that go with every ticket change."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.conflicts import insert_ignoring_duplicates
from storage.models import OutboxMessage, Ticket, TicketEvent


async def open_tickets_for(session: AsyncSession, order_ids: Iterable[int]) -> list[Ticket]:
    ids = list(order_ids)
    if not ids:
        return []
    query = select(Ticket).where(Ticket.order_id.in_(ids), Ticket.status == "open")
    return list((await session.scalars(query)).all())


def add_timeline(
    session: AsyncSession,
    ticket_id: int,
    kind: str,
    at: datetime,
    detail: str | None = None,
    actor: str | None = None,
) -> None:
    session.add(TicketEvent(ticket_id=ticket_id, kind=kind, at=at, detail=detail, actor=actor))


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
    text: str,
    payload: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    return {
        "dedup_key": dedup_key,
        "ticket_id": ticket_id,
        "kind": kind,
        "target_kind": target_kind,
        "target": target,
        "text": text,
        "payload": payload,
        "created_at": now,
        "status": "pending",
    }
