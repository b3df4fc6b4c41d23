"""Order stage events: the history of stage changes, idempotent by (source, event id)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TypedDict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.bulk import insert_new
from storage.models import OrderEvent


class EventRow(TypedDict):
    """A stage an order entered, as a source reported it (see OrderEvent)."""

    order_id: int
    source: str
    event_id: str
    stage: str
    occurred_at: datetime
    received_at: datetime
    applied: bool


async def seen_event_ids(session: AsyncSession, source: str, event_ids: Sequence[str]) -> set[str]:
    if not event_ids:
        return set()
    query = select(OrderEvent.event_id).where(
        OrderEvent.source == source, OrderEvent.event_id.in_(event_ids)
    )
    return set(await session.scalars(query))


async def insert_events(session: AsyncSession, rows: list[EventRow]) -> None:
    """Keep these events; one already kept (same source and event id) is left as it is."""
    await insert_new(session, OrderEvent, rows)
