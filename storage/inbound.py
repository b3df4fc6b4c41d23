"""Which callback messages were already acted on."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from storage.conflicts import insert_ignoring_duplicates
from storage.db import rows_matched
from storage.models import InboundMessage


async def first_time(session: AsyncSession, source: str, msg_id: str, now: datetime) -> bool:
    """Record the message; False if it was recorded before (a WeCom retry)."""
    result = await session.execute(
        insert_ignoring_duplicates(session, InboundMessage),
        [{"source": source, "msg_id": msg_id, "received_at": now}],
    )
    return rows_matched(result) == 1
