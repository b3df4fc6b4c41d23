"""Outbox queries."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import OutboxMessage


async def messages_after(
    session: AsyncSession, last_id: int, limit: int = 500
) -> list[OutboxMessage]:
    """Outbox rows newer than ``last_id``, oldest first."""
    query = select(OutboxMessage).where(OutboxMessage.id > last_id).order_by(OutboxMessage.id)
    return list((await session.scalars(query.limit(limit))).all())
